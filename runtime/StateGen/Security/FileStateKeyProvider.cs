using System;
using System.Buffers;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;

namespace StateGen.Security;

/// <summary>
/// Keys from a JSON key file that only its owner may read:
/// <code>
/// { "format": "stategen-keys/1", "activeKeyId": "k2", "keys": { "k1": "base64...", "k2": "base64..." } }
/// </code>
/// Files are written atomically (a temporary file, then a rename) and, on Unix, created with mode 0600. A malformed
/// file is a <see cref="StateKeyConfigurationException"/> that names the file and the problem, never its content.
/// </summary>
public sealed class FileStateKeyProvider : IStateKeyProvider
{
    /// <summary>The format marker of a key file.</summary>
    public const string Format = "stategen-keys/1";

    /// <summary>The largest key file read: 64 KiB.</summary>
    public const int MaxFileBytes = 64 * 1024;

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly ILogger? _logger;

    /// <summary>Creates the provider.</summary>
    /// <param name="path">The key file.</param>
    /// <param name="logger">Warns when the file can be read by other users.</param>
    public FileStateKeyProvider(string path, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FilePath = Path.GetFullPath(path);
        _logger = logger;
    }

    /// <summary>The key file (full path).</summary>
    public string FilePath { get; }

    /// <summary>
    /// Creates a new key file with one random active key.
    /// </summary>
    /// <exception cref="IOException">The file already exists.</exception>
    public static Task CreateAsync(string path, string keyId, CancellationToken cancellationToken = default)
        => WriteAsync(path, new StateKeyOptions().AddGeneratedKey(keyId), overwrite: false, cancellationToken);

    /// <summary>
    /// Writes keys to a key file atomically, readable by its owner only on Unix. The keys are validated first, so an
    /// unusable file is never written.
    /// </summary>
    /// <param name="path">The key file.</param>
    /// <param name="keys">The keys.</param>
    /// <param name="overwrite">Whether an existing file may be replaced.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is not set, or the write failed.</exception>
    /// <exception cref="StateKeyConfigurationException">The keys are not valid.</exception>
    public static async Task WriteAsync(string path, StateKeyOptions keys, bool overwrite = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(keys);
        string fullPath = Path.GetFullPath(path);
        using (keys.ToKeyRing($"the options to write to '{fullPath}'"))
        {
        }

        if (!overwrite && File.Exists(fullPath))
        {
            throw new IOException($"The key file '{fullPath}' already exists; it was not replaced.");
        }

        string directory = Path.GetDirectoryName(fullPath)!;
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        var buffer = new ArrayBufferWriter<byte>(16 * 1024); // large enough never to grow (and leave a copy behind)
        string temp = Path.Combine(directory, "." + Path.GetFileName(fullPath) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        try
        {
            using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                writer.WriteStartObject();
                writer.WriteString("format", Format);
                writer.WriteString("activeKeyId", ActiveId(keys));
                writer.WriteStartObject("keys");
                var ids = new List<string>(keys.Keys.Keys);
                ids.Sort(StringComparer.Ordinal);
                foreach (string id in ids)
                {
                    writer.WriteString(id, keys.Keys[id].Trim());
                }

                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, OwnerOnly);
            }

            File.Move(temp, fullPath, overwrite);
        }
        finally
        {
            buffer.Clear(); // zeroes what was written
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask<StateKeyRing> GetKeyRingAsync(CancellationToken cancellationToken = default)
    {
        StateKeyOptions keys = await ReadAsync(cancellationToken).ConfigureAwait(false);
        return keys.ToKeyRing(Source);
    }

    /// <summary>Reads and validates the key file.</summary>
    /// <exception cref="StateKeyConfigurationException">The file is missing, unreadable, too large or malformed.</exception>
    public async Task<StateKeyOptions> ReadAsync(CancellationToken cancellationToken = default)
    {
        byte[] content = await ReadBytesAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            StateKeyOptions keys = Parse(content);
            using (keys.ToKeyRing(Source))
            {
            }

            return keys;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(content);
        }
    }

    /// <summary>
    /// Rotates: adds a new random key to the file and makes it active. The previous keys stay for decryption.
    /// Rings loaded before keep their keys; load a new ring to encrypt with the new key.
    /// </summary>
    /// <exception cref="ArgumentException">The key id is not valid or already in the file.</exception>
    public async Task RotateAsync(string newKeyId, CancellationToken cancellationToken = default)
    {
        StateKeyOptions keys = await ReadAsync(cancellationToken).ConfigureAwait(false);
        keys.AddGeneratedKey(newKeyId, activate: true);
        await WriteAsync(FilePath, keys, overwrite: true, cancellationToken).ConfigureAwait(false);
        if (_logger is not null)
        {
            SecurityLog.KeyFileWritten(_logger, FilePath, keys.Keys.Count, newKeyId);
        }
    }

    /// <summary>
    /// Removes a retired key from the file. Records still encrypted with it could never be decrypted again, so the
    /// caller confirms that none is left.
    /// </summary>
    /// <returns><see langword="false"/> when the key is not in the file.</returns>
    /// <exception cref="InvalidOperationException">The key is the active key, or the removal was not confirmed.</exception>
    public async Task<bool> RemoveRetiredKeyAsync(string keyId, bool noRecordUsesKey, CancellationToken cancellationToken = default)
    {
        StateKeyOptions keys = await ReadAsync(cancellationToken).ConfigureAwait(false);
        if (!keys.RemoveRetiredKey(keyId, noRecordUsesKey))
        {
            return false;
        }

        await WriteAsync(FilePath, keys, overwrite: true, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private string Source => $"key file '{FilePath}'";

    private static string ActiveId(StateKeyOptions keys)
    {
        if (!string.IsNullOrEmpty(keys.ActiveKeyId))
        {
            return keys.ActiveKeyId;
        }

        foreach (string id in keys.Keys.Keys)
        {
            return id; // validated: exactly one key
        }

        throw new InvalidOperationException("No key.");
    }

    private async Task<byte[]> ReadBytesAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!OperatingSystem.IsWindows() && _logger is not null && File.Exists(FilePath))
            {
                UnixFileMode mode = File.GetUnixFileMode(FilePath);
                if ((mode & GroupOrOther) != 0)
                {
                    SecurityLog.KeyFilePermissive(_logger, FilePath, Convert.ToString((int)mode, 8));
                }
            }

            await using var stream = new FileStream(FilePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, useAsync: true);
            if (stream.Length > MaxFileBytes)
            {
                throw new StateKeyConfigurationException(Source, $"it is larger than {MaxFileBytes} bytes.");
            }

            byte[] content = new byte[stream.Length];
            await stream.ReadExactlyAsync(content, cancellationToken).ConfigureAwait(false);
            return content;
        }
        catch (FileNotFoundException)
        {
            throw new StateKeyConfigurationException(Source, "the file does not exist.");
        }
        catch (DirectoryNotFoundException)
        {
            throw new StateKeyConfigurationException(Source, "the file does not exist.");
        }
        catch (EndOfStreamException)
        {
            throw new StateKeyConfigurationException(Source, "the file changed while it was read.");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StateKeyConfigurationException(Source, "the file cannot be read (access denied).", innerException: e);
        }
        catch (IOException e)
        {
            throw new StateKeyConfigurationException(Source, "the file cannot be read (I/O error).", innerException: e);
        }
    }

    /// <summary>Parses the file; errors say what is wrong and where, never what the file contains.</summary>
    private StateKeyOptions Parse(ReadOnlyMemory<byte> content)
    {
        ReadOnlySpan<byte> bom = [0xEF, 0xBB, 0xBF];
        if (content.Span.StartsWith(bom))
        {
            content = content.Slice(bom.Length);
        }

        // The JSON reader does not check the UTF-8 inside strings and names: reading them later would throw an untyped
        // InvalidOperationException.
        if (!System.Text.Unicode.Utf8.IsValid(content.Span))
        {
            throw Malformed("it is not valid UTF-8.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(content, new JsonDocumentOptions { MaxDepth = 4, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            // Never attach e: its message can quote characters of the file.
            throw new StateKeyConfigurationException(Source, $"it is not valid JSON (line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1}).");
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Malformed("the top level is not a JSON object.");
            }

            string? format = null;
            string? activeKeyId = null;
            Dictionary<string, string>? keys = null;
            try
            {
                foreach (JsonProperty property in root.EnumerateObject())
                {
                    switch (property.Name)
                    {
                        case "format" when format is null && property.Value.ValueKind == JsonValueKind.String:
                            format = property.Value.GetString();
                            break;
                        case "activeKeyId" when activeKeyId is null && property.Value.ValueKind == JsonValueKind.String:
                            activeKeyId = property.Value.GetString();
                            break;
                        case "keys" when keys is null && property.Value.ValueKind == JsonValueKind.Object:
                            keys = ParseKeys(property.Value);
                            break;
                        case "format" or "activeKeyId" or "keys":
                            throw Malformed($"the property '{property.Name}' is repeated or of the wrong JSON type.");
                        default:
                            throw Malformed("it has a property other than 'format', 'activeKeyId' and 'keys'.");
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // Reading a name or string refuses an escaped unpaired surrogate (\ud800); its message is not attached.
                throw Malformed("a name or string in it is not valid text (an unpaired surrogate escape).");
            }

            if (!string.Equals(format, Format, StringComparison.Ordinal))
            {
                throw Malformed(format is null ? $"the property 'format' is missing (expected \"{Format}\")." : $"its format is not \"{Format}\".");
            }

            if (keys is null)
            {
                throw Malformed("the property 'keys' is missing.");
            }

            return new StateKeyOptions { ActiveKeyId = activeKeyId, Keys = keys };
        }
    }

    private Dictionary<string, string> ParseKeys(JsonElement element)
    {
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        int index = 0;
        foreach (JsonProperty property in element.EnumerateObject())
        {
            index++;
            if (!StateKeyRing.IsValidKeyId(property.Name))
            {
                throw Malformed($"key entry {index} has a key id that is not 1 to {StateKeyRing.MaxKeyIdLength} characters of [A-Za-z0-9._-].");
            }

            if (property.Value.ValueKind != JsonValueKind.String)
            {
                throw Malformed($"the key '{property.Name}' is not a JSON string.");
            }

            if (!keys.TryAdd(property.Name, property.Value.GetString()!))
            {
                throw Malformed($"the key id '{property.Name}' appears more than once.");
            }
        }

        return keys;
    }

    private StateKeyConfigurationException Malformed(string reason) => new(Source, "it is not a valid key file: " + reason);
}
