using System;
using System.Buffers;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using StateGen.Serialization;

namespace StateGen.Benchmarks;

/// <summary>
/// The serializer alone, no store: System.Text.Json source generation (baseline) against StateGen's generated
/// <c>WriteState</c>/<c>ReadState</c>. Both write through a reused <see cref="Utf8JsonWriter"/> over a reused
/// <see cref="ArrayBufferWriter{T}"/> that is reset per operation, with the same writer options, and both read the
/// same bytes (checked in <see cref="Setup"/>).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[BenchConfig]
public class SerializerBenchmarks
{
    private BenchAgent _agent = null!;
    private ArrayBufferWriter<byte> _buffer = null!;
    private Utf8JsonWriter _writer = null!;
    private byte[] _payload = null!;

    [GlobalSetup]
    public void Setup()
    {
        _agent = BenchAgent.CreateSample();
        _buffer = new ArrayBufferWriter<byte>(8192);
        _writer = new Utf8JsonWriter(_buffer, StateJson.WriterOptions);

        Serialize_Stj();
        byte[] stj = _buffer.WrittenSpan.ToArray();
        Serialize_StateGen();
        byte[] stateGen = _buffer.WrittenSpan.ToArray();
        if (!stj.AsSpan().SequenceEqual(stateGen))
        {
            throw new InvalidOperationException(
                "The two serializers do not write the same bytes; the comparison would not be like for like.\n" +
                "STJ:      " + System.Text.Encoding.UTF8.GetString(stj) + "\n" +
                "StateGen: " + System.Text.Encoding.UTF8.GetString(stateGen));
        }

        _payload = stj;
        Console.WriteLine($"// Payload: {_payload.Length} bytes of UTF-8 JSON (identical from both serializers).");
        if (Deserialize_Stj().History.Count != 20 || Deserialize_StateGen().History.Count != 20)
        {
            throw new InvalidOperationException("A deserializer lost the history.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark(Baseline = true, Description = "STJ source-gen")]
    [BenchmarkCategory("Serialize")]
    public int Serialize_Stj()
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        JsonSerializer.Serialize(_writer, _agent, BenchJsonContext.Default.BenchAgent);
        _writer.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "StateGen WriteState")]
    [BenchmarkCategory("Serialize")]
    public int Serialize_StateGen()
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        ((IPersistentState<BenchAgent>)_agent).WriteState(_writer);
        _writer.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark(Baseline = true, Description = "STJ source-gen")]
    [BenchmarkCategory("Deserialize")]
    public BenchAgent Deserialize_Stj()
        => JsonSerializer.Deserialize(_payload, BenchJsonContext.Default.BenchAgent)!;

    [Benchmark(Description = "StateGen ReadState")]
    [BenchmarkCategory("Deserialize")]
    public BenchAgent Deserialize_StateGen()
    {
        var agent = new BenchAgent();
        var reader = new Utf8JsonReader(_payload, StateJson.ReaderOptions);
        reader.Read();
        ((IPersistentState<BenchAgent>)agent).ReadState(ref reader);
        return agent;
    }
}
