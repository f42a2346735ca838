using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Configuration;

namespace StateGen.Security;

/// <summary>
/// Keys from a <see cref="IConfiguration"/> section (user secrets, environment variables, a vault's configuration
/// provider), by default <c>StateGen:Keys</c>, shaped like <see cref="StateKeyOptions"/>:
/// <c>StateGen:Keys:ActiveKeyId</c> = the active key id and <c>StateGen:Keys:Keys:&lt;id&gt;</c> = a base64 32-byte key.
/// The active key id may be left out when there is exactly one key.
/// </summary>
/// <remarks>
/// The section is read on every <see cref="GetKeyRingAsync"/>, so a configuration reload (a rotation written to the
/// secret store) is seen by the next ring loaded; a ring already loaded does not change. A problem is a
/// <see cref="StateKeyConfigurationException"/> whose source names the configuration path; it never quotes a key.
/// </remarks>
public sealed class ConfigurationStateKeyProvider : IStateKeyProvider
{
    /// <summary>The default section path.</summary>
    public const string DefaultSectionPath = "StateGen:Keys";

    private readonly IConfiguration _configuration;

    /// <summary>Creates the provider.</summary>
    /// <param name="configuration">The application's configuration (or any section of it).</param>
    /// <param name="sectionPath">
    /// The path of the key section under <paramref name="configuration"/>; empty when <paramref name="configuration"/>
    /// is the key section itself.
    /// </param>
    public ConfigurationStateKeyProvider(IConfiguration configuration, string sectionPath = DefaultSectionPath)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(sectionPath);
        _configuration = sectionPath.Length == 0 ? configuration : configuration.GetSection(sectionPath);
        SectionPath = _configuration is IConfigurationSection section ? section.Path : sectionPath;
    }

    /// <summary>The configuration path of the key section, as errors name it.</summary>
    public string SectionPath { get; }

    /// <inheritdoc/>
    public ValueTask<StateKeyRing> GetKeyRingAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new(Read().ToKeyRing($"configuration section '{SectionPath}'"));
    }

    /// <summary>Reads the section into options; errors name the configuration path, never a value.</summary>
    internal StateKeyOptions Read()
    {
        string source = $"configuration section '{SectionPath}'";
        var options = new StateKeyOptions();
        bool any = false;
        foreach (IConfigurationSection child in _configuration.GetChildren())
        {
            any = true;
            switch (child.Key.ToUpperInvariant())
            {
                case "ACTIVEKEYID":
                    if (HasChildren(child))
                    {
                        throw new StateKeyConfigurationException(source, $"'{child.Path}' must be a key id, not a section.");
                    }

                    options.ActiveKeyId = string.IsNullOrWhiteSpace(child.Value) ? null : child.Value.Trim();
                    break;
                case "KEYS":
                    options.Keys = ReadKeys(source, child);
                    break;
                default:
                    // A short name of letters is a setting's name (a typo such as 'Active'): quoted. Anything else may be
                    // a key pasted where a name belongs: not quoted.
                    throw new StateKeyConfigurationException(source, child.Key.Length <= 24 && IsLetters(child.Key)
                        ? $"'{child.Path}' is not a key setting (the settings are ActiveKeyId and Keys:<key id>)."
                        : $"a setting under '{SectionPath}' is not a key setting (the settings are ActiveKeyId and Keys:<key id>).");
            }
        }

        if (!any)
        {
            throw new StateKeyConfigurationException(source, "it is missing or empty.");
        }

        return options;
    }

    private static Dictionary<string, string> ReadKeys(string source, IConfigurationSection keys)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!string.IsNullOrEmpty(keys.Value))
        {
            // A value where the section of keys belongs; it may be a key, so it is not quoted.
            throw new StateKeyConfigurationException(source, $"'{keys.Path}' must be a section of key id = base64 key entries, not a value.");
        }

        foreach (IConfigurationSection entry in keys.GetChildren())
        {
            if (!StateKeyRing.IsValidKeyId(entry.Key))
            {
                // A configuration key can hold anything, including a key pasted as a name: not quoted.
                throw new StateKeyConfigurationException(source, $"a key id under '{keys.Path}' is not 1 to {StateKeyRing.MaxKeyIdLength} characters of [A-Za-z0-9._-].");
            }

            if (HasChildren(entry))
            {
                throw new StateKeyConfigurationException(source, $"'{entry.Path}' must be a base64 key, not a section.", entry.Key);
            }

            result.Add(entry.Key, entry.Value ?? string.Empty);
        }

        return result;
    }

    private static bool IsLetters(string name)
    {
        foreach (char c in name)
        {
            if (!char.IsAsciiLetter(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasChildren(IConfigurationSection section)
    {
        using IEnumerator<IConfigurationSection> children = section.GetChildren().GetEnumerator();
        return children.MoveNext();
    }
}
