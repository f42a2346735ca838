using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using StateGen.Generator.Helpers;
using StateGen.Generator.Model;
using StateGen.Generator.Shape;

namespace StateGen.Generator;

public sealed partial class StateGenerator
{
    /// <summary>Turns symbols into equatable models. Types with problems yield <see langword="null"/>: the analyzers report them.</summary>
    internal static class Parser
    {
        /// <summary>
        /// The syntax predicate: a class or record declared <c>partial</c>, inside types that are all <c>partial</c>.
        /// Emitting <c>partial</c> for a non-partial type would cause CS0260 and hide the analyzers' diagnostics.
        /// </summary>
        public static bool IsCandidate(SyntaxNode node)
        {
            if (node is not (ClassDeclarationSyntax or RecordDeclarationSyntax))
            {
                return false;
            }

            for (SyntaxNode? current = node; current is TypeDeclarationSyntax declaration; current = current.Parent)
            {
                if (!declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
                {
                    return false;
                }
            }

            return true;
        }

        public static StateTypeSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not INamedTypeSymbol type)
            {
                return null;
            }

            // A type declared in several partial parts is seen once per part: keep only the first declaration.
            if (type.DeclaringSyntaxReferences.Length > 1 && type.DeclaringSyntaxReferences[0].GetSyntax(cancellationToken) != context.TargetNode)
            {
                return null;
            }

            ShapeResult result = ShapeExtractor.Extract(type, cancellationToken);
            if (result.Shape is null)
            {
                return null;
            }

            var containing = new List<ContainingTypeSpec>();
            for (INamedTypeSymbol? outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
            {
                containing.Insert(0, new ContainingTypeSpec(Keyword(outer), DeclaredName(outer)));
            }

            string? ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
            return new StateTypeSpec
            {
                Namespace = ns,
                ContainingTypes = containing.ToEquatableArray(),
                Keyword = Keyword(type),
                DeclaredName = DeclaredName(type),
                HintName = HintName(type),
                Shape = result.Shape,
            };
        }

        private static string Keyword(INamedTypeSymbol type) => (type.IsRecord, type.TypeKind) switch
        {
            (true, TypeKind.Struct) => "record struct",
            (true, _) => "record",
            (false, TypeKind.Struct) => "struct",
            (false, TypeKind.Interface) => "interface",
            _ => "class",
        };

        private static string DeclaredName(INamedTypeSymbol type)
        {
            string name = SyntaxFacts.GetKeywordKind(type.Name) != SyntaxKind.None ? "@" + type.Name : type.Name;
            return type.TypeParameters.Length == 0 ? name : name + "<" + string.Join(", ", type.TypeParameters.Select(p => p.Name)) + ">";
        }

        /// <summary><c>{Namespace}.{Outer}.{Type}.State.g.cs</c>; generic arity as <c>`N</c>, so the name is unique per type.</summary>
        private static string HintName(INamedTypeSymbol type)
        {
            var builder = new StringBuilder();
            for (ISymbol? current = type; current is INamedTypeSymbol named; current = named.ContainingType)
            {
                string part = named.Arity == 0 ? named.Name : named.Name + "`" + named.Arity;
                builder.Insert(0, builder.Length == 0 ? part : part + ".");
            }

            if (type.ContainingNamespace is { IsGlobalNamespace: false } ns)
            {
                builder.Insert(0, ns.ToDisplayString() + ".");
            }

            return builder.Append(".State.g.cs").ToString();
        }
    }
}
