using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using StateGen.Secrets;
using StateGen.Serialization;

namespace StateGen.Benchmarks;

/// <summary>
/// What secret scanning costs a save: the generated <c>WriteState</c> of the serializer benchmarks' agent document
/// with scanning <see cref="SecretScanPolicy.Off"/> (baseline) and <see cref="SecretScanPolicy.RedactAndWarn"/> (the
/// default), each inside the scan scope <see cref="StateManager"/> opens, plus the scanner alone over the same
/// strings. <see cref="Turns"/> 20 is the serializer benchmarks' document (4.4 KB); 53 is the same agent with more
/// turns, about 11 KB. The document holds no secret, which is the common case the scanner must make cheap.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByParams)]
[BenchConfig]
public class SecretScanBenchmarks
{
    private BenchAgent _agent = null!;
    private ArrayBufferWriter<byte> _buffer = null!;
    private Utf8JsonWriter _writer = null!;
    private string[] _strings = null!;

    [Params(20, 53)]
    public int Turns { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _agent = BenchAgent.CreateSample();
        for (int i = _agent.History.Count; i < Turns; i++)
        {
            Turn model = _agent.History[i % 20];
            _agent.History.Add(new Turn { Role = model.Role, Text = model.Text.Replace($" {i % 20}:", $" {i}:", StringComparison.Ordinal), At = model.At.AddMinutes(i) });
        }

        _buffer = new ArrayBufferWriter<byte>(16384);
        _writer = new Utf8JsonWriter(_buffer, StateJson.WriterOptions);

        var strings = new List<string> { _agent.Id, _agent.Topic };
        foreach (Turn turn in _agent.History)
        {
            strings.Add(turn.Text);
        }

        strings.AddRange(_agent.Notes.Values);
        _strings = strings.ToArray();

        Serialize_ScanOff();
        byte[] off = _buffer.WrittenSpan.ToArray();
        Serialize_RedactAndWarn();
        if (!off.AsSpan().SequenceEqual(_buffer.WrittenSpan) || Scanner_alone() != 0)
        {
            throw new InvalidOperationException("The document must hold no secret: both serializations must write the same bytes.");
        }

        Console.WriteLine($"// Payload: {off.Length} bytes of UTF-8 JSON, {_strings.Length} strings, {Turns} turns.");
    }

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark(Baseline = true, Description = "WriteState, scanning Off")]
    public int Serialize_ScanOff() => Serialize(SecretScanPolicy.Off);

    [Benchmark(Description = "WriteState, RedactAndWarn (default)")]
    public int Serialize_RedactAndWarn() => Serialize(SecretScanPolicy.RedactAndWarn);

    [Benchmark(Description = "SecretScanner.TryFind over the document's strings")]
    public int Scanner_alone() => CountSecrets(_strings);

    /// <summary>How many of <paramref name="strings"/> hold a secret, by <see cref="SecretScanner.TryFind"/>.</summary>
    internal static int CountSecrets(string[] strings)
    {
        int found = 0;
        foreach (string text in strings)
        {
            if (SecretScanner.TryFind(text, out _))
            {
                found++;
            }
        }

        return found;
    }

    private int Serialize(SecretScanPolicy policy)
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        using (SecretScan.Begin(policy))
        {
            ((IPersistentState<BenchAgent>)_agent).WriteState(_writer);
        }

        _writer.Flush();
        return _buffer.WrittenCount;
    }
}
