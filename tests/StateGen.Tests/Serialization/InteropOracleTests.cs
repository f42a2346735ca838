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
