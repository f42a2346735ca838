using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using CsCheck;
using StateGen.Serialization;

namespace StateGen.Tests.Serialization;

/// <summary>
/// System.Text.Json as an oracle for the stored format: what the generated writer writes, STJ reads into an equal
/// object, and what STJ writes (with string enums and named floating-point literals), the generated reader reads.
/// </summary>
public sealed class InteropOracleTests
{
    private static readonly JsonSerializerOptions Stj = new()
    {
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    [Fact]
    public void System_Text_Json_reads_what_the_generated_writer_writes()
        => PropertyRoundTripTests.StateGen.Sample(
            state =>
            {
                var buffer = new ArrayBufferWriter<byte>();
                using (var writer = new Utf8JsonWriter(buffer, StateJson.WriterOptions))
                {
                    ((IPersistentState<PropertyState>)state).WriteState(writer);
                }

                PropertyState? read = JsonSerializer.Deserialize<PropertyState>(buffer.WrittenSpan, Stj);
                PropertyRoundTripTests.AssertEqual(state, read!);
            },
            iter: 500);

    [Fact]
    public void The_generated_reader_reads_what_System_Text_Json_writes()
        => PropertyRoundTripTests.StateGen.Sample(
            state =>
            {
                byte[] json = JsonSerializer.SerializeToUtf8Bytes(state, Stj);
                var reader = new Utf8JsonReader(json, StateJson.ReaderOptions);
                reader.Read();
                var read = new PropertyState();
                ((IPersistentState<PropertyState>)read).ReadState(ref reader);
                PropertyRoundTripTests.AssertEqual(state, read);
            },
            iter: 500);
}
