using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using StateGen.Generator.Shape;

namespace StateGen.Analyzers;

/// <summary>
/// Reports persisted members whose name looks like a secret but that are not <c>[Sensitive]</c> (SG0200): they would be
/// written to the store in plain text; and <c>[Sensitive]</c> options that do not go together (SG0201). A member is persisted when it is in the shape <see cref="ShapeExtractor"/>
/// computes for some <c>[PersistentState]</c> type of the compilation, as the member of the type, of a base type or of
/// a plain object reached from it.
/// </summary>
/// <remarks>
/// The diagnostic is reported by the member's own symbol action, so it is local to the member's declaration (a code
/// fix can be offered on demand) and a member shared by several persisted types is reported once. Which members are
/// persisted is a question about the whole compilation; it is answered once per compilation, and only when some
/// member's name matches at all.
/// </remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class SensitiveDataAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(DiagnosticDescriptors.SecretNotSensitive, DiagnosticDescriptors.InvalidSensitiveOptions);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(static start =>
        {
            INamedTypeSymbol? attribute = start.Compilation.GetTypeByMetadataName(WellKnownNames.PersistentStateAttribute);
            if (attribute is null)
            {
                return; // the runtime is not referenced: nothing is persisted
            }

            var index = new PersistedMemberIndex(start.Compilation, attribute);
            start.RegisterSymbolAction(symbolContext => AnalyzeMember(symbolContext, index), SymbolKind.Property, SymbolKind.Field);
        });
    }

    private static void AnalyzeMember(SymbolAnalysisContext context, PersistedMemberIndex index)
    {
        ISymbol member = context.Symbol;
        if (member.IsStatic || member.IsImplicitlyDeclared || member.ContainingType is null)
        {
            return;
        }

        CheckSensitiveOptions(context, member);

        // The name test is cheap and rarely passes: the index of persisted members is built only when one does.
        string? word = SecretWord(member.Name);
        if (word is null || !index.IsPlainSecretCandidate(member, context.CancellationToken))
        {
            return;
        }

        Location location = member.Locations.FirstOrDefault(l => l.IsInSource) ?? Location.None;
        context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.SecretNotSensitive, location, member.Name, member.ContainingType.Name, word));
    }

    /// <summary>SG0201: <c>Fingerprint</c> without <c>SensitiveMode.Redact</c>, or a mode that is not defined.</summary>
    private static void CheckSensitiveOptions(SymbolAnalysisContext context, ISymbol member)
    {
        AttributeData? attribute = member.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == WellKnownNames.SensitiveAttribute);
        if (attribute is null)
        {
            return;
        }

        int mode = attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is int value ? value : 0;
        bool fingerprint = attribute.NamedArguments.Any(a => a.Key == "Fingerprint" && a.Value.Value is true);
        string? problem = mode is < 0 or > 2
            ? $"{mode} is not a SensitiveMode (Omit, Redact or Encrypt)"
            : fingerprint && mode != 1
                ? $"Fingerprint = true needs SensitiveMode.Redact, not {(mode == 0 ? "Omit" : "Encrypt")}"
                : null;
        if (problem is not null)
        {
            Location location = attribute.ApplicationSyntaxReference?.GetSyntax(context.CancellationToken).GetLocation()
                ?? member.Locations.FirstOrDefault(l => l.IsInSource) ?? Location.None;
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InvalidSensitiveOptions, location, member.Name, member.ContainingType.Name, problem));
        }
    }

    /// <summary>
    /// The secret word a member name ends with (e.g. <c>ApiKey</c>, <c>Token</c>, <c>Password</c>), or null. The name is
    /// split into words (PascalCase, camelCase, snake_case, acronyms, a leading <c>_</c> or <c>m_</c>) and compared
    /// case-insensitively; the secret must be the last word or words, so <c>TokenCount</c>, <c>MaxTokens</c>,
    /// <c>TokenizerName</c> and <c>PasswordHint</c> do not match: they describe a secret, they do not hold one.
    /// </summary>
    internal static string? SecretWord(string name)
    {
        List<string> words = SplitWords(name);
        while (words.Count > 0 && char.IsDigit(words[words.Count - 1][0]))
        {
            words.RemoveAt(words.Count - 1); // ApiKey2, Password_1
        }

        if (words.Count == 0)
        {
            return null;
        }

        string last = words[words.Count - 1];
        string? previous = words.Count > 1 ? words[words.Count - 2] : null;
        switch (last)
        {
            case "secret":
                return "Secret";
            case "password":
                return "Password";
            case "passwd":
                return "Passwd";
            case "pwd":
                return "Pwd";
            case "passphrase":
                return "Passphrase";
            case "credential":
                return "Credential";
            case "credentials":
                return "Credentials";
            case "cookie":
                return "Cookie";
            case "pat":
                return "Pat";
            case "token":
                return previous is not null && NonSecretTokenKinds.Contains(previous) ? null : "Token";
            case "string" when previous == "connection":
            case "connectionstring":
                return "ConnectionString";
            case "key" when previous is not null && SecretKeyKinds.TryGetValue(previous, out string? kind):
                return kind + "Key";
        }

        // One word that is a whole compound, e.g. "APIKEY", "Apikey", "privatekey".
        foreach (KeyValuePair<string, string> kind in SecretKeyKinds)
        {
            if (last == kind.Key + "key")
            {
                return kind.Value + "Key";
            }
        }

        return null;
    }

    /// <summary>The word before <c>Key</c> that makes it a secret (a <c>CacheKey</c> or <c>PublicKey</c> is not).</summary>
    private static readonly Dictionary<string, string> SecretKeyKinds = new(StringComparer.Ordinal)
    {
        ["api"] = "Api",
        ["access"] = "Access",
        ["secret"] = "Secret",
        ["private"] = "Private",
        ["signing"] = "Signing",
        ["encryption"] = "Encryption",
        ["session"] = "Session",
        ["subscription"] = "Subscription",
        ["master"] = "Master",
    };

    /// <summary>
    /// Words before <c>Token</c> that name a token which is not a credential: paging cursors and language-model
    /// vocabulary tokens (an agent's state often holds both).
    /// </summary>
    private static readonly HashSet<string> NonSecretTokenKinds = new(StringComparer.Ordinal)
    {
        "continuation", "page", "paging", "pagination", "next", "resume", "cancellation",
        "stop", "eos", "bos", "pad", "unk", "mask", "separator", "special", "start", "end",
    };

    /// <summary>
    /// Lower-case words of an identifier: <c>GitHubPAT</c> → git, hub, pat; <c>APIKey</c> → api, key;
    /// <c>_api_key</c> → api, key; <c>OAuth2Token</c> → o, auth, 2, token. A leading <c>m_</c> or <c>s_</c> is dropped.
    /// </summary>
    internal static List<string> SplitWords(string name)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (!char.IsLetterOrDigit(c))
            {
                Flush();
                continue;
            }

            if (current.Length > 0)
            {
                char p = name[i - 1];
                bool boundary =
                    (char.IsUpper(c) && (char.IsLower(p) || char.IsDigit(p)))                              // apiKey, oauth2Token
                    || (char.IsUpper(c) && char.IsUpper(p) && i + 1 < name.Length && char.IsLower(name[i + 1])) // APIKey
                    || (char.IsDigit(c) != char.IsDigit(p));                                                // token2, oauth2
                if (boundary)
                {
                    Flush();
                }
            }

            current.Append(char.ToLowerInvariant(c));
        }

        Flush();
        if (words.Count > 1 && words[0] is "m" or "s" && name.Length > 1 && name[1] == '_')
        {
            words.RemoveAt(0); // m_password, s_token
        }

        return words;

        void Flush()
        {
            if (current.Length > 0)
            {
                words.Add(current.ToString());
                current.Clear();
            }
        }
    }

    /// <summary>
    /// The persisted members of the compilation's <c>[PersistentState]</c> types that hold a plain (not
    /// <c>[Sensitive]</c>) string, <c>byte[]</c> or <c>char[]</c>. Built on first use from the extracted shapes, mapping
    /// each shape member back to its symbol by name with the rule <see cref="ShapeExtractor"/> uses (the most derived
    /// member of a name wins).
    /// </summary>
    private sealed class PersistedMemberIndex
    {
        private static readonly SymbolDisplayFormat FullNameFormat = SymbolDisplayFormat.FullyQualifiedFormat;

        private readonly Compilation _compilation;
        private readonly INamedTypeSymbol _attribute;
        private readonly object _gate = new();
        private HashSet<ISymbol>? _members;

        public PersistedMemberIndex(Compilation compilation, INamedTypeSymbol attribute)
        {
            _compilation = compilation;
            _attribute = attribute;
        }

        public bool IsPlainSecretCandidate(ISymbol member, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                // A cancelled build leaves _members null, so the next caller starts again.
                _members ??= Build(cancellationToken);
                return _members.Contains(member.OriginalDefinition);
            }
        }

        private HashSet<ISymbol> Build(CancellationToken cancellationToken)
        {
            var members = new HashSet<ISymbol>(SymbolEqualityComparer.Default);
            foreach (ISymbol symbol in _compilation.GetSymbolsWithName(static _ => true, SymbolFilter.Type, cancellationToken))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (symbol is INamedTypeSymbol type
                    && type.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, _attribute))
                    && ShapeCache.Get(_compilation, type, cancellationToken).Shape is PersistedTypeShape shape)
                {
                    AddShape(type, shape, members, cancellationToken);
                }
            }

            return members;
        }

        /// <summary>Adds the root's members, then those of every plain object reached from them, found by full name.</summary>
        private static void AddShape(INamedTypeSymbol root, PersistedTypeShape shape, HashSet<ISymbol> members, CancellationToken cancellationToken)
        {
            Dictionary<string, ObjectShape> objects = shape.Objects.ToDictionary(o => o.FullName, StringComparer.Ordinal);
            var visited = new HashSet<string>(StringComparer.Ordinal);
            var pending = new Queue<(INamedTypeSymbol Type, IEnumerable<MemberShape> Members)>();
            pending.Enqueue((root, shape.Members));
            while (pending.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                (INamedTypeSymbol type, IEnumerable<MemberShape> shapeMembers) = pending.Dequeue();
                Dictionary<string, ISymbol> byName = MembersByName(type);
                foreach (MemberShape memberShape in shapeMembers)
                {
                    if (!byName.TryGetValue(memberShape.Name, out ISymbol? member))
                    {
                        continue;
                    }

                    if (!memberShape.IsSensitive && HoldsText(memberShape.Type))
                    {
                        members.Add(member.OriginalDefinition);
                    }

                    foreach (INamedTypeSymbol reached in ReachedTypes(member is IPropertySymbol p ? p.Type : ((IFieldSymbol)member).Type))
                    {
                        string fullName = reached.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(FullNameFormat);
                        if (objects.TryGetValue(fullName, out ObjectShape? nested) && visited.Add(fullName))
                        {
                            pending.Enqueue((reached, nested.Members));
                        }
                    }
                }
            }
        }

        /// <summary>A string, <c>byte[]</c> or <c>char[]</c>: the member types that can hold a secret as it is.</summary>
        private static bool HoldsText(TypeShape type)
            => type.Kind is ShapeKind.String or ShapeKind.ByteArray
                || (type.Kind == ShapeKind.Array && type.Element?.Kind == ShapeKind.Char);

        /// <summary>Instance properties and fields of the type and its base types; the most derived of a name wins.</summary>
        private static Dictionary<string, ISymbol> MembersByName(INamedTypeSymbol type)
        {
            var byName = new Dictionary<string, ISymbol>(StringComparer.Ordinal);
            for (INamedTypeSymbol? current = type; current is not null && current.SpecialType != SpecialType.System_Object; current = current.BaseType)
            {
                foreach (ISymbol member in current.GetMembers())
                {
                    if (!member.IsStatic && member.Kind is SymbolKind.Property or SymbolKind.Field && !byName.ContainsKey(member.Name))
                    {
                        byName.Add(member.Name, member);
                    }
                }
            }

            return byName;
        }

        /// <summary>The named types a member type is made of: itself, array elements and type arguments, recursively.</summary>
        private static IEnumerable<INamedTypeSymbol> ReachedTypes(ITypeSymbol type)
        {
            switch (type)
            {
                case IArrayTypeSymbol array:
                    foreach (INamedTypeSymbol reached in ReachedTypes(array.ElementType))
                    {
                        yield return reached;
                    }

                    break;
                case INamedTypeSymbol named:
                    yield return named;
                    foreach (ITypeSymbol argument in named.TypeArguments)
                    {
                        foreach (INamedTypeSymbol reached in ReachedTypes(argument))
                        {
                            yield return reached;
                        }
                    }

                    break;
            }
        }
    }
}
