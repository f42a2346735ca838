using System.Collections.Generic;
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

namespace StateGen.CodeFixes;

/// <summary>
/// Fixes SG0001: adds <c>partial</c> to the <c>[PersistentState]</c> type's declaration and to every declaration that
/// encloses it and lacks it. <c>partial</c> goes last among the modifiers, where C# requires it.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MakePartialCodeFixProvider))]
[Shared]
public sealed class MakePartialCodeFixProvider : CodeFixProvider
{
    /// <summary>The code action's title; also its equivalence key, so Fix All groups the fixes.</summary>
    public const string Title = "Make type and containing types partial";

    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.NotPartialId);

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
            TypeDeclarationSyntax? declaration = FindDeclaration(root, diagnostic.Location.SourceSpan);
            if (declaration is null || NonPartialDeclarations(declaration).Count == 0)
            {
                continue;
            }

            context.RegisterCodeFix(
                CodeAction.Create(
                    Title,
                    cancellationToken => MakePartialAsync(context.Document, diagnostic.Location.SourceSpan, cancellationToken),
                    equivalenceKey: Title),
                diagnostic);
        }
    }

    /// <summary>The type declaration whose name the diagnostic points at.</summary>
    private static TypeDeclarationSyntax? FindDeclaration(SyntaxNode root, TextSpan span)
    {
        SyntaxToken identifier = root.FindToken(span.Start);
        return identifier.Parent is TypeDeclarationSyntax declaration && declaration.Identifier.Span == span ? declaration : null;
    }

    /// <summary>The declaration and its enclosing type declarations that lack <c>partial</c>.</summary>
    private static List<TypeDeclarationSyntax> NonPartialDeclarations(TypeDeclarationSyntax declaration)
        => declaration.AncestorsAndSelf()
            .OfType<TypeDeclarationSyntax>()
            .Where(d => !d.Modifiers.Any(SyntaxKind.PartialKeyword))
            .ToList();

    private static async Task<Document> MakePartialAsync(Document document, TextSpan span, CancellationToken cancellationToken)
    {
        SyntaxNode? root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null || FindDeclaration(root, span) is not { } declaration)
        {
            return document;
        }

        // ReplaceNodes hands each outer declaration over with its inner declarations already rewritten.
        SyntaxNode newRoot = root.ReplaceNodes(NonPartialDeclarations(declaration), static (_, rewritten) => AddPartial(rewritten));
        return document.WithSyntaxRoot(newRoot);
    }

    private static TypeDeclarationSyntax AddPartial(TypeDeclarationSyntax declaration)
    {
        SyntaxTokenList modifiers = declaration.Modifiers;
        if (modifiers.Count > 0)
        {
            // "public sealed class" → "public sealed partial class": the previous modifier's trailing space separates.
            return declaration.WithModifiers(modifiers.Add(SyntaxFactory.Token(SyntaxKind.PartialKeyword).WithTrailingTrivia(SyntaxFactory.Space)));
        }

        // No modifiers: the keyword carries the declaration's indentation (and any comment); move it to 'partial'.
        SyntaxToken keyword = declaration.Keyword;
        SyntaxToken partial = SyntaxFactory.Token(keyword.LeadingTrivia, SyntaxKind.PartialKeyword, SyntaxFactory.TriviaList(SyntaxFactory.Space));
        return declaration
            .WithKeyword(keyword.WithLeadingTrivia(SyntaxTriviaList.Empty))
            .WithModifiers(SyntaxFactory.TokenList(partial));
    }
}
