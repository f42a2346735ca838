using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using StateGen.Analyzers;
using StateGen.Generator.Shape;

namespace StateGen.CodeFixes;

/// <summary>
/// Fixes SG0200: marks the member <c>[Sensitive]</c>. The attribute goes in its own list before the member's other
/// attributes, on its own line with the member's indentation (or in front of the member when the member does not start
/// its line). It is written <c>[Sensitive]</c> when that name binds to StateGen's attribute at the member, and
/// qualified otherwise.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddSensitiveCodeFixProvider))]
[Shared]
public sealed class AddSensitiveCodeFixProvider : CodeFixProvider
{
    /// <summary>The code action's title; also its equivalence key, so Fix All groups the fixes.</summary>
    public const string Title = "Mark member [Sensitive]";

    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.SecretNotSensitiveId);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        foreach (Diagnostic diagnostic in context.Diagnostics)
        {
            if (FindMember(root, diagnostic.Location.SourceSpan) is null)
            {
                continue;
            }

            context.RegisterCodeFix(
                CodeAction.Create(
                    Title,
                    cancellationToken => AddSensitiveAsync(context.Document, diagnostic.Location.SourceSpan, cancellationToken),
                    equivalenceKey: Title),
                diagnostic);
        }
    }

    /// <summary>
    /// The property, or the field declaration of the variable, whose name the diagnostic points at. A field declaration
    /// that declares several variables gets no fix: the attribute would mark all of them.
    /// </summary>
    private static MemberDeclarationSyntax? FindMember(SyntaxNode root, TextSpan span)
    {
        SyntaxToken identifier = root.FindToken(span.Start);
        if (identifier.Span != span)
        {
            return null;
        }

        return identifier.Parent switch
        {
            PropertyDeclarationSyntax property => property,
            VariableDeclaratorSyntax { Parent: VariableDeclarationSyntax { Variables.Count: 1, Parent: FieldDeclarationSyntax field } } => field,
            _ => null,
        };
    }

    private static async Task<Document> AddSensitiveAsync(Document document, TextSpan span, CancellationToken cancellationToken)
    {
        SyntaxNode? root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        SemanticModel? model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        SourceText text = await document.GetTextAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || model is null || FindMember(root, span) is not { } member)
        {
            return document;
        }

        AttributeListSyntax list = SyntaxFactory.AttributeList(SyntaxFactory.SingletonSeparatedList(
            SyntaxFactory.Attribute(AttributeName(model, member.SpanStart))));
        SyntaxToken first = member.GetFirstToken();
        SyntaxTriviaList leading = first.LeadingTrivia;
        MemberDeclarationSyntax updated;
        if (StartsLine(text, first))
        {
            // The new list takes the member's comments and indentation, then a line break and the indentation again.
            SyntaxTriviaList indentation = SyntaxFactory.TriviaList(leading.Reverse().TakeWhile(t => t.IsKind(SyntaxKind.WhitespaceTrivia)).Reverse());
            list = list.WithLeadingTrivia(leading).WithTrailingTrivia(EndOfLine(root));
            updated = member.ReplaceToken(first, first.WithLeadingTrivia(indentation));
        }
        else
        {
            list = list.WithLeadingTrivia(leading).WithTrailingTrivia(SyntaxFactory.Space);
            updated = member.ReplaceToken(first, first.WithLeadingTrivia(SyntaxTriviaList.Empty));
        }

        updated = updated.WithAttributeLists(updated.AttributeLists.Insert(0, list));
        return document.WithSyntaxRoot(root.ReplaceNode(member, updated));
    }

    /// <summary><c>Sensitive</c> if it binds to StateGen's attribute at the position, else the qualified name.</summary>
    private static NameSyntax AttributeName(SemanticModel model, int position)
    {
        INamedTypeSymbol? attribute = model.Compilation.GetTypeByMetadataName(WellKnownNames.SensitiveAttribute);
        foreach (string candidate in new[] { "Sensitive", "StateGen.Sensitive" })
        {
            NameSyntax name = SyntaxFactory.ParseName(candidate);
            SymbolInfo info = model.GetSpeculativeSymbolInfo(position, SyntaxFactory.Attribute(name));
            if (attribute is not null && SymbolEqualityComparer.Default.Equals(info.Symbol?.ContainingType, attribute))
            {
                return name;
            }
        }

        return SyntaxFactory.ParseName("global::StateGen.Sensitive");
    }

    /// <summary>Whether only whitespace precedes the token on its line.</summary>
    private static bool StartsLine(SourceText text, SyntaxToken token)
    {
        TextLine line = text.Lines.GetLineFromPosition(token.SpanStart);
        for (int i = line.Start; i < token.SpanStart; i++)
        {
            if (!char.IsWhiteSpace(text[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The document's line break, so the fix does not mix <c>\r\n</c> and <c>\n</c>.</summary>
    private static SyntaxTrivia EndOfLine(SyntaxNode root)
    {
        SyntaxTrivia existing = root.DescendantTrivia().FirstOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia));
        return existing.IsKind(SyntaxKind.EndOfLineTrivia) ? existing : SyntaxFactory.ElasticCarriageReturnLineFeed;
    }
}
