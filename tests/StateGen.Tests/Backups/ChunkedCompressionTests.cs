using System;
using System.IO;
using System.Linq;
using System.Threading;
using StateGen.Backups;

namespace StateGen.Tests.Backups;

/// <summary>
/// The chunked container of database backups: several chunks compressed in parallel come back in order, byte for byte,
/// for every compression; damaged or cut containers are refused with the reader's typed exceptions.
/// </summary>
public sealed class ChunkedCompressionTests
{
    private static byte[] Data(int length)
    {
        // Half compressible text and zero runs, half random: both kinds of chunk, and a last chunk that is not full.
        var random = new Random(7);
        byte[] data = new byte[length];
        for (int at = 0; at < length; at += 65536)
        {
            Span<byte> block = data.AsSpan(at, Math.Min(65536, length - at));
            switch ((at / 65536) % 3)
            {
                case 0:
                    random.NextBytes(block);
                    break;
                case 1:
                    for (int i = 0; i < block.Length; i++)
                    {
                        block[i] = (byte)"{\"turn\":\"the agent planned the next step\"}"[i % 42];
                    }

                    break;
            }
        }

        return data;
    }

    private static byte[] Pack(byte[] data, BackupCompression compression)
    {
        using var output = new MemoryStream();
        using (var writer = new ChunkedCompression.Writer(output, compression))
        {
            // Writes of odd sizes cross chunk boundaries.
            for (int at = 0, size = 1; at < data.Length; at += size, size = (size * 7 % 1_000_003) + 1)
            {
                writer.Write(data, at, Math.Min(size, data.Length - at));
            }

            writer.Complete();
        }

        return output.ToArray();
    }

    private static byte[] Unpack(byte[] packed, BackupCompression compression)
    {
        using var output = new MemoryStream();
        ChunkedCompression.Read(new MemoryStream(packed), compression, output, default);
        return output.ToArray();
    }

    [Theory]
    [InlineData(BackupCompression.None)]
    [InlineData(BackupCompression.GZip)]
    [InlineData(BackupCompression.Brotli)]
    [InlineData(BackupCompression.Lz4)]
    public void Several_chunks_round_trip_in_order_byte_for_byte(BackupCompression compression)
    {
        byte[] data = Data((ChunkedCompression.ChunkSize * 3) + 12345);
        byte[] packed = Pack(data, compression);
        Assert.Equal(data, Unpack(packed, compression));
        if (compression != BackupCompression.None)
        {
            Assert.True(packed.Length < data.Length * 0.8, $"{packed.Length} bytes packed from {data.Length}");
        }

        Assert.Equal(Unpack(Pack([], compression), compression), Array.Empty<byte>());
    }

    [Theory]
    [InlineData(BackupCompression.GZip)]
    [InlineData(BackupCompression.Lz4)]
    [InlineData(BackupCompression.None)]
    public void Cut_damaged_or_mislabelled_containers_are_refused(BackupCompression compression)
    {
        byte[] packed = Pack(Data(ChunkedCompression.ChunkSize + 5000), compression);
        foreach (int cut in new[] { 3, 16, 20, 24, packed.Length / 2, packed.Length - 8, packed.Length - 1 })
        {
            Assert.ThrowsAny<IOException>(() => Unpack(packed[..cut], compression)); // EndOfStreamException
        }

        byte[] longer = [.. packed, 0];
        Assert.Throws<InvalidDataException>(() => Unpack(longer, compression));

        byte[] impossible = (byte[])packed.Clone();
        BitConverter.TryWriteBytes(impossible.AsSpan(16), int.MaxValue); // the first chunk's length before compression
        Assert.Throws<InvalidDataException>(() => Unpack(impossible, compression));

        BackupCompression other = compression == BackupCompression.Lz4 ? BackupCompression.GZip : BackupCompression.Lz4;
        Assert.Throws<InvalidDataException>(() => Unpack(packed, other));

        byte[] flipped = (byte[])packed.Clone();
        flipped[24 + 100] ^= 0x20; // inside the first chunk's bytes
        Exception? error = Record.Exception(() => Unpack(flipped, compression));
        if (compression == BackupCompression.None)
        {
            Assert.Null(error); // no compression, nothing to notice: the manifest's SHA-256 is what catches it
        }
        else
        {
            Assert.True(error is InvalidDataException || Unpack(flipped, compression).SequenceEqual(Unpack(packed, compression)) is false, "a flipped compressed byte was neither refused nor visible");
        }
    }

    [Fact]
    public void A_failing_output_surfaces_from_the_read_and_no_write_runs_after_it_returns()
    {
        // The reader writes one chunk while it decompresses the next: the output's error must still reach the caller,
        // and the reader must not return while a write is running.
        byte[] packed = Pack(Data((ChunkedCompression.ChunkSize * 4) + 10), BackupCompression.Lz4);
        var output = new FailingOutput(failOnWrite: 2);
        var error = Assert.Throws<IOException>(() => ChunkedCompression.Read(new MemoryStream(packed), BackupCompression.Lz4, output, default));
        Assert.Equal("disk full (test)", error.Message);
        int writes = output.Writes;
        Thread.Sleep(50);
        Assert.Equal(writes, output.Writes);
        Assert.Equal(0, output.Running);
    }

    [Fact]
    public void Writing_after_completion_is_refused()
    {
        using var output = new MemoryStream();
        using var writer = new ChunkedCompression.Writer(output, BackupCompression.Lz4);
        writer.Write([1, 2, 3]);
        writer.Complete();
        long length = output.Length;
        Assert.Throws<ObjectDisposedException>(() => writer.Write([4]));
        Assert.Equal(length, output.Length);
    }

    /// <summary>An output whose n-th write fails (slowly, so a write is still running when the next chunk is ready).</summary>
    private sealed class FailingOutput(int failOnWrite) : MemoryStream
    {
        private int _writes;
        private int _running;

        public int Writes => Volatile.Read(ref _writes);

        public int Running => Volatile.Read(ref _running);

        public override void Write(byte[] buffer, int offset, int count)
        {
            Interlocked.Increment(ref _running);
            try
            {
                Thread.Sleep(20);
                if (Interlocked.Increment(ref _writes) == failOnWrite)
                {
                    throw new IOException("disk full (test)");
                }

                base.Write(buffer, offset, count);
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }
    }
}
