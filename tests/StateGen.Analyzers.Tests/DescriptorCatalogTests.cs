using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace StateGen.Analyzers.Tests;

/// <summary>Every diagnostic is reported by the analyzer, tracked in the release file and documented.</summary>
public sealed class DescriptorCatalogTests
{
    private static readonly IReadOnlyList<DiagnosticDescriptor> AllDescriptors = typeof(DiagnosticDescriptors)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
        .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
        .ToList();

    [Fact]
    public void Analyzers_support_every_descriptor_once()
    {
        IEnumerable<string> supported = new PersistentStateAnalyzer().SupportedDiagnostics
            .Concat(new SchemaLockAnalyzer().SupportedDiagnostics)
            .Concat(new SensitiveDataAnalyzer().SupportedDiagnostics)
            .Select(d => d.Id);
        Assert.Equal(AllDescriptors.Select(d => d.Id).OrderBy(id => id), supported.OrderBy(id => id));
        Assert.Equal(AllDescriptors.Count, AllDescriptors.Select(d => d.Id).Distinct().Count());
    }

    [Fact]
    public void Every_descriptor_links_to_its_own_anchor_in_the_diagnostics_page()
    {
        string docs = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "diagnostics.md"));
        foreach (DiagnosticDescriptor descriptor in AllDescriptors)
        {
            Assert.Matches(@"^SG\d{4}$", descriptor.Id);
            string anchor = descriptor.Id.ToLowerInvariant();
            Assert.Equal("https://github.com/stategen/stategen/blob/main/docs/diagnostics.md#" + anchor, descriptor.HelpLinkUri);
            Assert.Contains("\n## " + descriptor.Id + "\n", docs.Replace("\r\n", "\n"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_descriptor_is_listed_in_the_release_file_with_its_category_and_severity()
    {
        string[] lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "analyzers", "StateGen.Analyzers", "AnalyzerReleases.Unshipped.md"));
        foreach (DiagnosticDescriptor descriptor in AllDescriptors)
        {
            string expected = $"{descriptor.Id} | {descriptor.Category} | {descriptor.DefaultSeverity} | {descriptor.Title}";
            Assert.Contains(expected, lines);
        }
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "StateGen.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("StateGen.sln not found above " + AppContext.BaseDirectory);
    }
}
