using System;
using System.IO;
using System.Text;
using System.Threading.Tasks;
using StateGen.Security;
using StateGen.Tests.TestSupport;
using StateGen.Tests.TestTypes;

namespace StateGen.Tests.Encryption;

/// <summary><see cref="StateManager.OpenLiteDbAsync"/>: the embedded default with encryption at rest, across a real reopen.</summary>
public sealed class OpenLiteDbEncryptedTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Values_are_encrypted_in_the_file_and_read_back_only_with_the_key()
    {
        string path = _dir.File("encrypted.db");
        StateKeyOptions keys = new StateKeyOptions().AddGeneratedKey("k1");
        string marker = "plain-marker-" + Guid.NewGuid().ToString("N");

        await using (StateManager manager = await StateManager.OpenLiteDbAsync(path, new OptionsStateKeyProvider(keys)))
        {
            await new Note { Id = "n", Topic = marker, Runs = 3 }.SaveStateAsync(manager);
        }

        Assert.DoesNotContain(marker, Encoding.Latin1.GetString(await File.ReadAllBytesAsync(path)), StringComparison.Ordinal);

        await using (StateManager reopened = await StateManager.OpenLiteDbAsync(path, new OptionsStateKeyProvider(keys)))
        {
            var note = new Note { Id = "n" };
            Assert.True(await note.LoadStateAsync(reopened));
            Assert.Equal(marker, note.Topic);
            Assert.Equal(3, note.Runs);
        }

        StateKeyOptions otherKeys = new StateKeyOptions().AddGeneratedKey("k2");
        await using StateManager wrong = await StateManager.OpenLiteDbAsync(path, new OptionsStateKeyProvider(otherKeys));
        var error = await Assert.ThrowsAsync<StateDecryptionException>(async () => await new Note { Id = "n" }.LoadStateAsync(wrong));
        Assert.Equal("k1", error.KeyId);
        Assert.DoesNotContain(marker, error.Message, StringComparison.Ordinal);
    }
}
