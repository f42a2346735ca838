using System;

namespace StateGen.Internal;

/// <summary>A glob over scope paths and keys: <c>*</c> matches any run of characters, <c>?</c> one; ordinal.</summary>
internal sealed class GlobPattern
{
    private readonly string _pattern;
    private readonly bool _literal;

    public GlobPattern(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        _pattern = pattern;
        _literal = pattern.AsSpan().IndexOfAny('*', '?') < 0;
    }

    public bool IsMatch(string text) => _literal ? string.Equals(_pattern, text, StringComparison.Ordinal) : Match(_pattern, text);

    public override string ToString() => _pattern;

    private static bool Match(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        // Iterative wildcard match with one backtrack point: linear in practice, no recursion.
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
