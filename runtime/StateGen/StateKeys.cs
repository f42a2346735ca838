using System;
using System.Globalization;
using System.Text;

namespace StateGen;

/// <summary>
/// Validation and normalization of state keys and scope ids. Keys are normalized to Unicode NFC, so two spellings
/// of the same text name the same value.
/// </summary>
public static class StateKeys
{
    /// <summary>The longest key, in UTF-8 bytes after normalization.</summary>
    public const int MaxKeyBytes = 512;

    /// <summary>The longest scope id, in UTF-8 bytes after normalization.</summary>
    public const int MaxScopeIdBytes = 200;

    /// <summary>
    /// Validates and normalizes a key. Rejected: null, empty or blank keys; control and invisible formatting
    /// characters; lone surrogates; <c>\</c>; empty, <c>.</c> or <c>..</c> path segments (so <c>//</c>, a leading or
    /// trailing <c>/</c>); keys longer than <see cref="MaxKeyBytes"/> UTF-8 bytes.
    /// </summary>
    /// <param name="key">The key to check.</param>
    /// <returns>The NFC-normalized key.</returns>
    /// <exception cref="InvalidStateKeyException">The key is not valid; the message says why.</exception>
    public static string Normalize(string? key) => Check(key, "key", MaxKeyBytes, allowSlash: true);

    internal static string NormalizeScopeId(string? id, string paramName) => Check(id, paramName, MaxScopeIdBytes, allowSlash: false);

    /// <summary>
    /// Validates and normalizes (NFC) a key prefix for a list. Empty is allowed (every key). Rejected, because no valid
    /// key starts with it: control and invisible formatting characters, lone surrogates, <c>\</c>, a leading <c>/</c>,
    /// <c>//</c>, a whole <c>.</c> or <c>..</c> segment (one followed by <c>/</c>), more than <see cref="MaxKeyBytes"/>
    /// UTF-8 bytes. The last segment may be anything a key's segment starts with: empty (a prefix ending in <c>/</c>),
    /// <c>.</c> or <c>..</c> (the start of <c>..x</c>), blank.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="keyPrefix"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidStateKeyException">No valid key starts with the prefix; the message says why.</exception>
    internal static string NormalizePrefix(string keyPrefix)
    {
        ArgumentNullException.ThrowIfNull(keyPrefix);
        if (keyPrefix.Length == 0)
        {
            return keyPrefix;
        }

        const string ParamName = "keyPrefix";
        if (keyPrefix.Length > MaxKeyBytes * 4)
        {
            throw new InvalidStateKeyException(ParamName, $"it is longer than {MaxKeyBytes} UTF-8 bytes.");
        }

        CheckCharacters(keyPrefix, ParamName, allowSlash: true);
        string normalized = NormalizeText(keyPrefix, ParamName);
        if (Encoding.UTF8.GetByteCount(normalized) > MaxKeyBytes)
        {
            throw new InvalidStateKeyException(ParamName, $"it is longer than {MaxKeyBytes} UTF-8 bytes.");
        }

        string[] segments = normalized.Split('/');
        for (int i = 0; i < segments.Length - 1; i++)
        {
            if (segments[i].Length == 0)
            {
                throw new InvalidStateKeyException(ParamName, "it has an empty path segment (a leading '/' or '//').");
            }

            if (segments[i] is "." or "..")
            {
                throw new InvalidStateKeyException(ParamName, $"it has a '{segments[i]}' path segment.");
            }
        }

        return normalized;
    }

    private static string Check(string? value, string paramName, int maxBytes, bool allowSlash)
    {
        if (value is null)
        {
            throw new InvalidStateKeyException(paramName, "it is null.");
        }

        if (value.Length == 0 || string.IsNullOrWhiteSpace(value))
        {
            throw new InvalidStateKeyException(paramName, "it is empty or blank.");
        }

        // Bound the work before normalizing: NFC never shrinks text by more than a small factor.
        if (value.Length > maxBytes * 4)
        {
            throw new InvalidStateKeyException(paramName, $"it is longer than {maxBytes} UTF-8 bytes.");
        }

        CheckCharacters(value, paramName, allowSlash);
        string normalized = NormalizeText(value, paramName);
        if (Encoding.UTF8.GetByteCount(normalized) > maxBytes)
        {
            throw new InvalidStateKeyException(paramName, $"it is longer than {maxBytes} UTF-8 bytes.");
        }

        if (allowSlash)
        {
            foreach (string segment in normalized.Split('/'))
            {
                if (segment.Length == 0)
                {
                    throw new InvalidStateKeyException(paramName, "it has an empty path segment (a leading or trailing '/', or '//').");
                }

                if (segment is "." or "..")
                {
                    throw new InvalidStateKeyException(paramName, $"it has a '{segment}' path segment.");
                }
            }
        }
        else if (normalized is "." or "..")
        {
            throw new InvalidStateKeyException(paramName, $"it is '{normalized}'.");
        }

        return normalized;
    }

    private static void CheckCharacters(string value, string paramName, bool allowSlash)
    {
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
                continue;
            }

            if (char.IsSurrogate(c))
            {
                throw new InvalidStateKeyException(paramName, $"it contains an unpaired surrogate at position {i}.");
            }

            UnicodeCategory category = CharUnicodeInfo.GetUnicodeCategory(c);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                throw new InvalidStateKeyException(paramName, $"it contains a control or invisible formatting character (U+{(int)c:X4}) at position {i}.");
            }

            if (c == '\\')
            {
                throw new InvalidStateKeyException(paramName, $"it contains '\\' at position {i}.");
            }

            if (c == '/' && !allowSlash)
            {
                throw new InvalidStateKeyException(paramName, $"it contains '/' at position {i}; scope ids are single path segments.");
            }
        }
    }

    private static string NormalizeText(string value, string paramName)
    {
        try
        {
            return value.Normalize(NormalizationForm.FormC);
        }
        catch (ArgumentException)
        {
            throw new InvalidStateKeyException(paramName, "it is not valid Unicode text.");
        }
    }
}
