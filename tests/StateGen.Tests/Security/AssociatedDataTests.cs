using System;
using CsCheck;
using StateGen.Security;

namespace StateGen.Tests.Security;

/// <summary>Canonical associated data: equal tuples give equal bytes, distinct tuples never do.</summary>
public sealed class AssociatedDataTests
{
    private static readonly Gen<string> Text = Gen.OneOf(Gen.String[Gen.Char["ab/:|\0"], 0, 4], Gen.String[0, 6]);

    private static readonly Gen<(string, string, string, int)> DocumentTuple = Gen.Select(Text, Text, Text, Gen.Int[-2, 2]);

    private static readonly Gen<(string, string, string, string)> MemberTuple = Gen.Select(Text, Text, Text, Text);

    [Fact]
    public void Distinct_document_tuples_never_give_the_same_bytes()
        => Gen.Select(DocumentTuple, DocumentTuple).Sample(
            (a, b) =>
            {
                byte[] x = StateAssociatedData.ForDocument(a.Item1, a.Item2, a.Item3, a.Item4);
                byte[] y = StateAssociatedData.ForDocument(b.Item1, b.Item2, b.Item3, b.Item4);
                Assert.Equal(a == b, x.AsSpan().SequenceEqual(y));
            },
            iter: 5000);

    [Fact]
    public void Distinct_member_tuples_never_give_the_same_bytes()
        => Gen.Select(MemberTuple, MemberTuple).Sample(
            (a, b) =>
            {
                byte[] x = StateAssociatedData.ForMember(a.Item1, a.Item2, a.Item3, a.Item4);
                byte[] y = StateAssociatedData.ForMember(b.Item1, b.Item2, b.Item3, b.Item4);
                Assert.Equal(a == b, x.AsSpan().SequenceEqual(y));
            },
            iter: 5000);

    [Fact]
    public void Shifting_a_boundary_between_fields_changes_the_bytes()
    {
        Assert.NotEqual(StateAssociatedData.ForDocument("ab", "c", "T", 1), StateAssociatedData.ForDocument("a", "bc", "T", 1));
        Assert.NotEqual(StateAssociatedData.ForMember("T", "a", "s", "k"), StateAssociatedData.ForDocument("T", "a", "s", 0));
    }

    /// <summary>
    /// Each field on its own (random tuples rarely differ in one field only: a dropped schema version went unseen by
    /// the two tests above).
    /// </summary>
    [Fact]
    public void Changing_any_one_field_changes_the_bytes()
    {
        byte[] document = StateAssociatedData.ForDocument("agent/a", "k", "T", 3);
        Assert.NotEqual(document, StateAssociatedData.ForDocument("agent/b", "k", "T", 3));
        Assert.NotEqual(document, StateAssociatedData.ForDocument("agent/a", "j", "T", 3));
        Assert.NotEqual(document, StateAssociatedData.ForDocument("agent/a", "k", "U", 3));
        Assert.NotEqual(document, StateAssociatedData.ForDocument("agent/a", "k", "T", 4));
        Assert.NotEqual(document, StateAssociatedData.ForDocument("agent/a", "k", "T", -3));

        byte[] member = StateAssociatedData.ForMember("T", "m", "agent/a", "k");
        Assert.NotEqual(member, StateAssociatedData.ForMember("U", "m", "agent/a", "k"));
        Assert.NotEqual(member, StateAssociatedData.ForMember("T", "n", "agent/a", "k"));
        Assert.NotEqual(member, StateAssociatedData.ForMember("T", "m", "agent/b", "k"));
        Assert.NotEqual(member, StateAssociatedData.ForMember("T", "m", "agent/a", "j"));
    }

    [Fact]
    public void Equal_tuples_give_equal_bytes()
        => Assert.Equal(StateAssociatedData.ForDocument("agent/a", "k", "T", 3), StateAssociatedData.ForDocument("agent/a", "k", "T", 3));

    [Fact]
    public void A_lone_surrogate_is_rejected_rather_than_replaced()
    {
        // Replacing both with U+FFFD would make these two keys collide.
        Assert.Throws<ArgumentException>(() => StateAssociatedData.ForDocument("s", "\ud800", "T", 1));
        Assert.Throws<ArgumentException>(() => StateAssociatedData.ForMember("T", "m", "s", "\udc00"));
    }
}
