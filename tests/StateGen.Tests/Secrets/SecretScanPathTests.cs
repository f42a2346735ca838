using System;
using System.Linq;
using System.Threading;
using StateGen.Secrets;
using StateGen.Serialization;

namespace StateGen.Tests.Secrets;

/// <summary>
/// A save's scan does not follow where the writer is (<see cref="SecretScan.BeginUntracked"/>): a finding names only its
/// member, and <see cref="SecretScan.Locate{T}"/> writes the value again to learn the full paths. The per-thread policy
/// still holds while other threads have scopes of other kinds open.
/// </summary>
public sealed class SecretScanPathTests
{
    [Fact]
    public void An_untracked_scan_redacts_and_counts_and_Locate_finds_the_full_paths()
    {
        string aws = SecretSamples.All(31).First(s => s.Kind == SecretKind.AwsAccessKeyId).Value;
        string jwt = SecretSamples.All(31).First(s => s.Kind == SecretKind.JsonWebToken).Value;
        var holder = new SecretHolder { Id = "h1" };
        holder.Turns.Add(new SecretInner { Text = "ordinary turn text, long enough" });
        holder.Turns.Add(new SecretInner { Text = "ordinary turn text, long enough", Lines = ["first line of text here", aws] });
        holder.Notes["session"] = jwt;

        string json;
        SecretFinding[] untracked;
        (SecretFinding[] Findings, int Count) located;
        using (SecretScanScope scan = SecretScan.BeginUntracked(SecretScanPolicy.RedactAndWarn))
        {
            json = SecretPlacementTests.Write(holder);
            untracked = scan.Findings.ToArray();
            Assert.Equal(2, scan.Count);
            located = SecretScan.Locate(holder, scan.Policy, StateJson.WriterOptions);

            // The nested scope ended: this one is in force again, untouched by the re-write.
            Assert.Equal(2, scan.Count);
        }

        // Untracked: a list element or dictionary value has no member segment of its own, so the path says nothing.
        Assert.Equal(new[] { SecretKind.JsonWebToken, SecretKind.AwsAccessKeyId }, untracked.Select(f => f.Kind));
        Assert.All(untracked, f => Assert.Equal("(root)", f.MemberPath));
        Assert.Equal(new[] { new SecretFinding("Notes[*]", SecretKind.JsonWebToken), new SecretFinding("Turns[1].Lines[1]", SecretKind.AwsAccessKeyId) }, located.Findings);
        Assert.Equal(2, located.Count);
        Assert.DoesNotContain(SecretPlacementTests.Strings(json), v => v.Contains(aws, StringComparison.Ordinal) || v.Contains(jwt, StringComparison.Ordinal));
    }

    [Fact]
    public void A_tracked_scope_on_another_thread_does_not_make_an_untracked_one_record_paths()
    {
        string aws = SecretSamples.All(32).First(s => s.Kind == SecretKind.AwsAccessKeyId).Value;
        var holder = new SecretHolder { Id = "h1", Nested = { Text = aws } };
        WhileAnotherThreadHolds(() => SecretScan.Begin(SecretScanPolicy.RedactAndWarn), () =>
        {
            using SecretScanScope scan = SecretScan.BeginUntracked(SecretScanPolicy.RedactAndWarn);
            SecretPlacementTests.Write(holder);
            Assert.Equal(new[] { new SecretFinding("Text", SecretKind.AwsAccessKeyId) }, scan.Findings);

            using (SecretScanScope tracked = SecretScan.Begin(SecretScanPolicy.RedactAndWarn))
            {
                SecretPlacementTests.Write(holder);
                Assert.Equal(new[] { new SecretFinding("Nested.Text", SecretKind.AwsAccessKeyId) }, tracked.Findings);
            }
        });
    }

    [Fact]
    public void An_Off_scope_on_another_thread_does_not_turn_the_scan_off_here()
    {
        string slack = SecretSamples.All(33).First(s => s.Kind == SecretKind.SlackToken).Value;
        var holder = new SecretHolder { Id = "h1", Text = slack, Items = { slack } };
        WhileAnotherThreadHolds(() => SecretScan.BeginUntracked(SecretScanPolicy.Off), () =>
        {
            // No scope here: redacted. An untracked default scope: redacted and counted. An Off scope here: verbatim.
            Assert.DoesNotContain(slack, SecretPlacementTests.Strings(SecretPlacementTests.Write(holder)));
            using (SecretScanScope scan = SecretScan.BeginUntracked(SecretScanPolicy.RedactAndWarn))
            {
                Assert.DoesNotContain(slack, SecretPlacementTests.Strings(SecretPlacementTests.Write(holder)));
                Assert.Equal(2, scan.Count);
            }

            using (SecretScan.BeginUntracked(SecretScanPolicy.Off))
            {
                Assert.Equal(2, SecretPlacementTests.Strings(SecretPlacementTests.Write(holder)).Count(v => v == slack));
            }
        });
    }

    /// <summary>Runs <paramref name="body"/> here while another thread holds a scope opened by <paramref name="open"/>.</summary>
    private static void WhileAnotherThreadHolds(Func<SecretScanScope> open, Action body)
    {
        using var opened = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var other = new Thread(() =>
        {
            using SecretScanScope held = open();
            opened.Set();
            release.Wait();
        });
        other.Start();
        opened.Wait();
        try
        {
            body();
        }
        finally
        {
            release.Set();
            other.Join();
        }
    }
}
