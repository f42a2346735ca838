using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.IO;
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
/// Fixes the schema lock diagnostics: SG0101 records a type's shape, SG0103 creates the lock file with every type
/// recorded, SG0100 bumps <c>[SchemaVersion]</c> and records the new shape (the old lines stay as history). Lines come
/// from the same <see cref="ShapeExtractor"/> and <see cref="SchemaLock"/> the analyzer and the generator use. Fix All
/// gathers every fix of a project into one edit of the lock file.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(SchemaLockCodeFixProvider))]
[Shared]
public sealed class SchemaLockCodeFixProvider : CodeFixProvider
{
    /// <summary>Title (and equivalence key) of the SG0101/SG0103 fix.</summary>
    public const string RecordTitle = "Record the schema in the lock file";

    /// <summary>Title (and equivalence key) of the SG0100 fix.</summary>
    public const string BumpTitle = "Bump [SchemaVersion] and record the new schema";

    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.SchemaChangedId,
        DiagnosticDescriptors.SchemaNotRecordedId,
        DiagnosticDescriptors.LockFileMissingId);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => new SchemaFixAllProvider();

    /// <inheritdoc />
    public override Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        foreach (Diagnostic diagnostic in context.Diagnostics)
        {
            bool bump = diagnostic.Id == DiagnosticDescriptors.SchemaChangedId;
            string title = bump ? BumpTitle : RecordTitle;
            context.RegisterCodeFix(
                CodeAction.Create(title, ct => FixAsync(context.Document.Project.Solution, new[] { (context.Document.Id, diagnostic) }, ct), equivalenceKey: title),
                diagnostic);
        }

        return Task.CompletedTask;
    }

    /// <summary>Applies a set of fixes in one project: source edits per document, one rewrite of the lock file.</summary>
    internal static async Task<Solution> FixAsync(Solution solution, IReadOnlyCollection<(DocumentId DocumentId, Diagnostic Diagnostic)> fixes, CancellationToken cancellationToken)
    {
        if (fixes.Count == 0)
        {
            return solution;
        }

        Project project = solution.GetDocument(fixes.First().DocumentId)!.Project;
        Compilation? compilation = await project.GetCompilationAsync(cancellationToken).ConfigureAwait(false);
        if (compilation is null)
        {
            return solution;
        }

        string lockName = SchemaLockAnalyzer.LockFileName(project.AnalyzerOptions);
        TextDocument? lockDocument = project.AdditionalDocuments.FirstOrDefault(d => string.Equals(Path.GetFileName(d.FilePath ?? d.Name), lockName, StringComparison.OrdinalIgnoreCase));
        LockFile existing = LockFile.Empty;
        if (lockDocument is not null)
        {
            existing = SchemaLock.Parse((await lockDocument.GetTextAsync(cancellationToken).ConfigureAwait(false)).ToString());
            if (existing.Errors.Count > 0)
            {
                return solution; // SG0105 first: rewriting would drop the lines it cannot read
            }
        }

        var newLines = new List<LockLine>(existing.Lines);
        var bumps = new Dictionary<DocumentId, List<(TextSpan Span, int Version, ImmutableArray<string> Changed)>>();
        foreach ((DocumentId documentId, Diagnostic diagnostic) in fixes)
        {
            if (diagnostic.Id == DiagnosticDescriptors.LockFileMissingId)
            {
                foreach (INamedTypeSymbol type in PersistentTypes(compilation, cancellationToken))
                {
                    if (ShapeExtractor.Extract(type, cancellationToken).Shape is PersistedTypeShape shape)
                    {
                        newLines.AddRange(SchemaLock.LinesFor(shape));
                    }
                }

                continue;
            }

            Document document = solution.GetDocument(documentId)!;
            SemanticModel? model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
            SyntaxNode? root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
            if (model is null || root?.FindToken(diagnostic.Location.SourceSpan.Start).Parent is not TypeDeclarationSyntax declaration
                || model.GetDeclaredSymbol(declaration, cancellationToken) is not INamedTypeSymbol symbol
                || ShapeExtractor.Extract(symbol, cancellationToken).Shape is not PersistedTypeShape current)
            {
                continue;
            }

            int version = current.SchemaVersion;
            if (diagnostic.Id == DiagnosticDescriptors.SchemaChangedId)
            {
                version = Math.Max(version, existing.VersionsOf(current.StableName).DefaultIfEmpty(0).Max()) + 1;
                if (!bumps.TryGetValue(documentId, out List<(TextSpan, int, ImmutableArray<string>)>? list))
                {
                    bumps[documentId] = list = new List<(TextSpan, int, ImmutableArray<string>)>();
                }

                // The new step's members that changed format need a hook: write one that passes the old value on.
                PersistedTypeShape bumped = current with { SchemaVersion = version };
                LockFile withNewVersion = SchemaLock.Parse(SchemaLock.Render(existing.Lines.Concat(SchemaLock.LinesFor(bumped))));
                UpgradeStepShape? step = UpgradePlanner.Plan(bumped, withNewVersion).Steps.LastOrDefault();
                ImmutableArray<string> changed = step is not null && step.FromVersion == version - 1 && !symbol.GetMembers("UpgradeFromV" + step.FromVersion).Any(m => m is IMethodSymbol { PartialImplementationPart: not null } or IMethodSymbol { IsPartialDefinition: false })
                    ? step.Changed.ToImmutableArray()
                    : ImmutableArray<string>.Empty;
                list.Add((declaration.Identifier.Span, version, changed));
            }

            newLines.AddRange(SchemaLock.LinesFor(current).Select(l => l with { Version = version }));
        }

        foreach (KeyValuePair<DocumentId, List<(TextSpan Span, int Version, ImmutableArray<string> Changed)>> bump in bumps)
        {
            Document document = solution.GetDocument(bump.Key)!;
            SyntaxNode root = (await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false))!;
            var declarations = bump.Value.ToDictionary(b => (TypeDeclarationSyntax)root.FindToken(b.Span.Start).Parent!, b => (b.Version, b.Changed));
            root = root.ReplaceNodes(declarations.Keys, (original, rewritten) =>
            {
                (int version, ImmutableArray<string> changed) = declarations[original];
                TypeDeclarationSyntax result = SetSchemaVersion(rewritten, version);
                return changed.IsEmpty ? result : result.AddMembers(UpgradeHookStub(version - 1, changed));
            });
            solution = solution.WithDocumentSyntaxRoot(bump.Key, root);
        }

        SourceText lockText = SourceText.From(SchemaLock.Render(newLines));
        if (lockDocument is not null)
        {
            return solution.WithAdditionalDocumentText(lockDocument.Id, lockText);
        }

        string? folder = project.FilePath is { } projectPath ? Path.GetDirectoryName(projectPath) : null;
        DocumentId lockId = DocumentId.CreateNewId(project.Id, lockName);
        return solution.AddAdditionalDocument(lockId, lockName, lockText, filePath: folder is null ? null : Path.Combine(folder, lockName));
    }

    /// <summary>
    /// The hook a step needs when members changed format: it passes each old value on as it was (enough for widening
    /// changes such as int to long), with a comment saying where to convert. Loading fails with a typed error, never
    /// silently, when the new type cannot read the old value.
    /// </summary>
    private static MemberDeclarationSyntax UpgradeHookStub(int fromVersion, ImmutableArray<string> changed)
    {
        var body = new System.Text.StringBuilder();
        body.Append("static partial void UpgradeFromV").Append(fromVersion).Append("(global::StateGen.Migrations.SchemaUpgrade upgrade)\n{\n");
        body.Append("    // Version ").Append(fromVersion + 1).Append(" changed the stored format of ").Append(string.Join(", ", changed.Select(c => "'" + c + "'")))
            .Append(".\n    // The old values are passed on as they were; convert them here if the new types cannot read them.\n");
        foreach (string member in changed)
        {
            string local = "old" + new string(member.Where(char.IsLetterOrDigit).ToArray());
            string literal = SymbolDisplay.FormatLiteral(member, quote: true);
            body.Append("    if (upgrade.Old(").Append(literal).Append(") is { } ").Append(local).Append(")\n    {\n        upgrade.Set(")
                .Append(literal).Append(", ").Append(local).Append(");\n    }\n");
        }

        body.Append("}\n");
        return SyntaxFactory.ParseMemberDeclaration(body.ToString())!
            .WithLeadingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed)
            .WithAdditionalAnnotations(Microsoft.CodeAnalysis.Formatting.Formatter.Annotation, Microsoft.CodeAnalysis.Simplification.Simplifier.Annotation);
    }

    private static IEnumerable<INamedTypeSymbol> PersistentTypes(Compilation compilation, CancellationToken cancellationToken)
        => compilation.GetSymbolsWithName(_ => true, SymbolFilter.Type, cancellationToken)
            .OfType<INamedTypeSymbol>()
            .Where(t => ShapeExtractor.HasAttribute(t, WellKnownNames.PersistentStateAttribute));

    /// <summary>Sets the argument of <c>[SchemaVersion]</c>, or adds the attribute when the type has none.</summary>
    private static TypeDeclarationSyntax SetSchemaVersion(TypeDeclarationSyntax declaration, int version)
    {
        LiteralExpressionSyntax literal = SyntaxFactory.LiteralExpression(
            SyntaxKind.NumericLiteralExpression,
            SyntaxFactory.Literal(version.ToString(CultureInfo.InvariantCulture), version));
        foreach (AttributeSyntax attribute in declaration.AttributeLists.SelectMany(l => l.Attributes))
        {
            string name = attribute.Name.ToString();
            if (name is "SchemaVersion" or "SchemaVersionAttribute" or "StateGen.SchemaVersion" or "StateGen.SchemaVersionAttribute" or "global::StateGen.SchemaVersion" or "global::StateGen.SchemaVersionAttribute"
                && attribute.ArgumentList is { Arguments.Count: 1 } arguments)
            {
                return declaration.ReplaceNode(arguments.Arguments[0].Expression, literal.WithTriviaFrom(arguments.Arguments[0].Expression));
            }
        }

        AttributeListSyntax list = SyntaxFactory.AttributeList(SyntaxFactory.SingletonSeparatedList(
            SyntaxFactory.Attribute(
                SyntaxFactory.IdentifierName("SchemaVersion"),
                SyntaxFactory.AttributeArgumentList(SyntaxFactory.SingletonSeparatedList(SyntaxFactory.AttributeArgument(literal))))));
        SyntaxTriviaList indentation = declaration.GetLeadingTrivia();
        list = list.WithLeadingTrivia(indentation).WithTrailingTrivia(SyntaxFactory.ElasticCarriageReturnLineFeed);
        if (declaration.AttributeLists.Count > 0)
        {
            AttributeListSyntax last = declaration.AttributeLists[declaration.AttributeLists.Count - 1];
            SyntaxTriviaList lineIndent = SyntaxFactory.TriviaList(last.GetLeadingTrivia().Where(t => t.IsKind(SyntaxKind.WhitespaceTrivia)));
            list = list.WithLeadingTrivia(lineIndent).WithTrailingTrivia(last.GetTrailingTrivia());
            return declaration.WithAttributeLists(declaration.AttributeLists.Add(list));
        }

        return declaration.WithoutLeadingTrivia().WithAttributeLists(declaration.AttributeLists.Add(list));
    }

    /// <summary>Fix All: one <see cref="FixAsync"/> per project, so the lock file is rewritten once.</summary>
    private sealed class SchemaFixAllProvider : FixAllProvider
    {
        public override IEnumerable<FixAllScope> GetSupportedFixAllScopes() => new[] { FixAllScope.Document, FixAllScope.Project, FixAllScope.Solution };

        public override Task<CodeAction?> GetFixAsync(FixAllContext fixAllContext)
        {
            string title = fixAllContext.CodeActionEquivalenceKey ?? RecordTitle;
            return Task.FromResult<CodeAction?>(CodeAction.Create(title, ct => FixAllAsync(fixAllContext, ct), equivalenceKey: title));
        }

        private static async Task<Solution> FixAllAsync(FixAllContext context, CancellationToken cancellationToken)
        {
            IEnumerable<Project> projects = context.Scope == FixAllScope.Solution ? context.Solution.Projects : new[] { context.Project };
            Solution solution = context.Solution;
            foreach (Project project in projects)
            {
                ImmutableArray<Diagnostic> diagnostics = context.Scope == FixAllScope.Document && context.Document is not null
                    ? await context.GetDocumentDiagnosticsAsync(context.Document).ConfigureAwait(false)
                    : await context.GetAllDiagnosticsAsync(project).ConfigureAwait(false);
                var fixes = new List<(DocumentId, Diagnostic)>();
                foreach (Diagnostic diagnostic in diagnostics)
                {
                    bool isBump = diagnostic.Id == DiagnosticDescriptors.SchemaChangedId;
                    if (isBump != (context.CodeActionEquivalenceKey == BumpTitle) || diagnostic.Location.SourceTree is null)
                    {
                        continue;
                    }

                    DocumentId? documentId = solution.GetDocumentId(diagnostic.Location.SourceTree);
                    if (documentId is not null)
                    {
                        fixes.Add((documentId, diagnostic));
                    }
                }

                solution = await FixAsync(solution, fixes, cancellationToken).ConfigureAwait(false);
            }

            return solution;
        }
    }
}
