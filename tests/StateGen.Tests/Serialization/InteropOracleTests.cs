using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using CsCheck;
using StateGen.Serialization;

namespace StateGen.Tests.Serialization;

/// <summary>
/// System.Text.Json as an oracle for the stored format: what the generated writer writes, STJ reads into an equal
/// object, and what STJ writes (with string enums, named floating-point literals and public fields), the generated
/// reader reads.
/// </summary>
public sealed class InteropOracleTests
{
    private static readonly JsonSerializerOptions Stj = new()
    {
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        IncludeFields = true, // the generated serializer stores public fields (Reading.Sensor)
    };

    [Fact]
    public void System_Text_Json_reads_what_the_generated_writer_writes()
        => PropertyRoundTripTests.StateGen.Sample(
            state => PropertyRoundTripTests.AssertEqual(state, JsonSerializer.Deserialize<PropertyState>(WriteGenerated(state), Stj)!),
            iter: 500);

    [Fact]
    public void The_generated_reader_reads_what_System_Text_Json_writes()
        => PropertyRoundTripTests.StateGen.Sample(
            state => PropertyRoundTripTests.AssertEqual(state, ReadGenerated<PropertyState>(JsonSerializer.SerializeToUtf8Bytes(state, Stj))),
            iter: 500);

    /// <summary>
    /// Excluded: <see cref="EveryKind.Seen"/>, an <c>IReadOnlySet&lt;T&gt;</c>, which STJ cannot instantiate
    /// (NotSupportedException), so it is drawn as null in this direction (the other direction covers it).
    /// </summary>
    [Fact]
    public void System_Text_Json_reads_what_the_generated_writer_writes_for_every_member_kind()
        => EveryKindSample.All.Select(state => { state.Seen = null; return state; }).Sample(
            state => EveryKindSample.AssertEqual(state, JsonSerializer.Deserialize<EveryKind>(WriteGenerated(state), Stj)!),
            iter: 500);

    /// <summary>
    /// Includes combinations of [Flags] enum values, which STJ writes as <c>"Read, Write"</c> (StateGen writes the number
    /// and reads both).
    /// </summary>
    [Fact]
    public void The_generated_reader_reads_what_System_Text_Json_writes_for_every_member_kind()
        => EveryKindSample.All.Sample(
            state => EveryKindSample.AssertEqual(state, ReadGenerated<EveryKind>(JsonSerializer.SerializeToUtf8Bytes(state, Stj))),
            iter: 500);

    /// <summary>
    /// Excluded in this direction (the other direction covers them): the stacks (<c>Stack&lt;T&gt;</c>,
    /// <c>ImmutableStack&lt;T&gt;</c>), which both store top first but STJ reads back reversed, and the get-only
    /// collections, which STJ skips when reading unless told to populate them; they are drawn empty.
    /// </summary>
    [Fact]
    public void System_Text_Json_reads_what_the_generated_writer_writes_for_every_collection_kind()
        => EveryCollectionKindTests.All.Select(WithoutStacksAndGetOnlyCollections).Sample(
            state => EveryCollectionKindTests.AssertEqual(state, JsonSerializer.Deserialize<EveryCollectionKind>(WriteGenerated(state), Stj)!),
            iter: 500);

    [Fact]
    public void The_generated_reader_reads_what_System_Text_Json_writes_for_every_collection_kind()
        => EveryCollectionKindTests.All.Sample(
            state => EveryCollectionKindTests.AssertEqual(state, ReadGenerated<EveryCollectionKind>(JsonSerializer.SerializeToUtf8Bytes(state, Stj))),
            iter: 500);

    private static readonly Gen<Message> MessageGen = Gen.Select(
        Gen.String, Gen.String, Gen.DateTimeOffset, Gen.Int, Gen.String.Null(),
        (role, text, at, tokens, tool) => new Message(role, text, at) { Tokens = tokens, Tool = tool });

    private static readonly Gen<PositionalAgent> PositionalGen = Gen.Select(
        Gen.String, MessageGen.List[0, 5], Gen.Bool, Gen.String, Gen.Int, Gen.String.Null(),
        (id, messages, hasSource, url, page, quote) => new PositionalAgent { Id = id, Messages = messages, Source = hasSource ? new Citation(url, page) { Quote = quote } : null });

    private static readonly Gen<WorkflowOuter<int>.StepState> StepGen = Gen.Select(
        Gen.Guid, Gen.Int.Array[0, 5], Gen.Dictionary(Gen.String, Gen.Double.Nullable().List[0, 4])[0, 4], Gen.Byte.Array[0, 20].Null(), Gen.String.List[0, 4], Gen.TimeSpan, Gen.Decimal, Gen.Char,
        (runId, numbers, series, blob, tags, elapsed, cost, grade) => new WorkflowOuter<int>.StepState { RunId = runId, Numbers = numbers, Series = series, Blob = blob, Tags = tags, Elapsed = elapsed, Cost = cost, Grade = grade });

    /// <summary>Positional records and classes built through a constructor (STJ binds the same constructors by parameter name).</summary>
    [Fact]
    public void Both_read_what_the_other_writes_for_constructor_built_types()
        => PositionalGen.Sample(
            state =>
            {
                AssertPositionalEqual(state, JsonSerializer.Deserialize<PositionalAgent>(WriteGenerated(state), Stj)!);
                AssertPositionalEqual(state, ReadGenerated<PositionalAgent>(JsonSerializer.SerializeToUtf8Bytes(state, Stj)));
            },
            iter: 500);

    /// <summary>A state nested in a generic containing type.</summary>
    [Fact]
    public void Both_read_what_the_other_writes_for_a_state_nested_in_a_generic_type()
        => StepGen.Sample(
            state =>
            {
                ContainingTypeTests.AssertStepEqual(state, JsonSerializer.Deserialize<WorkflowOuter<int>.StepState>(WriteGenerated(state), Stj)!);
                ContainingTypeTests.AssertStepEqual(state, ReadGenerated<WorkflowOuter<int>.StepState>(JsonSerializer.SerializeToUtf8Bytes(state, Stj)));
            },
            iter: 500);

    private static void AssertPositionalEqual(PositionalAgent expected, PositionalAgent actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Messages.Count, actual.Messages.Count);
        for (int i = 0; i < expected.Messages.Count; i++)
        {
            Assert.Equal(expected.Messages[i], actual.Messages[i]); // record equality: Role, Text, At, Tokens, Tool
            Assert.Equal(expected.Messages[i].At.Offset, actual.Messages[i].At.Offset);
        }

        Assert.Equal(expected.Source is null, actual.Source is null);
        if (expected.Source is not null)
        {
            Assert.Equal((expected.Source.Url, expected.Source.Page, expected.Source.Quote), (actual.Source!.Url, actual.Source.Page, actual.Source.Quote));
        }
    }

    private static EveryCollectionKind WithoutStacksAndGetOnlyCollections(EveryCollectionKind state)
    {
        state.Numbers = new();
        state.Undo = System.Collections.Immutable.ImmutableStack<int>.Empty;
        state.History = System.Collections.Immutable.ImmutableStack<string>.Empty;
        state.FixedList.Clear();
        state.FixedSet.Clear();
        state.FixedMap.Clear();
        state.Live.Clear();
        state.Shared.Clear();
        return state;
    }

    private static byte[] WriteGenerated<T>(T state)
        where T : IPersistentState<T>
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, StateJson.WriterOptions))
        {
            state.WriteState(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static T ReadGenerated<T>(byte[] json)
        where T : IPersistentState<T>
    {
        var reader = new Utf8JsonReader(json, StateJson.ReaderOptions);
        reader.Read();
        T read = T.CreateState();
        read.ReadState(ref reader);
        return read;
    }
}
