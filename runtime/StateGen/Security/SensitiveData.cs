using System;
using System.Buffers;
using System.ComponentModel;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text.Json;
using StateGen.Secrets;
using StateGen.Serialization;

namespace StateGen.Security;

/// <summary>Writes one value's JSON (generated code passes a method group of the member type's writer).</summary>
/// <typeparam name="T">The member type.</typeparam>
public delegate void StateValueWriter<in T>(Utf8JsonWriter writer, T value);

/// <summary>Reads one value from JSON, the reader on its first token (generated code passes the member type's reader).</summary>
/// <typeparam name="T">The member type.</typeparam>
public delegate T StateValueReader<out T>(ref Utf8JsonReader reader);

/// <summary>
/// The runtime half of <see cref="SensitiveMode.Redact"/> and <see cref="SensitiveMode.Encrypt"/> members, called by
/// generated serializers. The keys, scope and key of the record come from an ambient, per-thread context that
/// <see cref="StateManager"/> opens around serialization (<see cref="Begin"/>), so the generated
/// <c>WriteState</c>/<c>ReadState</c> signatures are the same for every type. Without a context, or with one that has
/// no keys, an encrypted member (or a fingerprint) is a <see cref="StateKeyConfigurationException"/>: never plaintext.
/// </summary>
/// <remarks>
/// An encrypted member is stored as a base64 string of a <see cref="StateEncryptor"/> envelope (key id inside) of the
/// member's own JSON, with the associated data <see cref="StateAssociatedData.ForMember"/>(stable type name, member
/// path, scope, key). A redacted member is stored as <see cref="Marker"/> (JSON <c>null</c> for a null value), or
/// <c>"[redacted:sensitive:{fingerprint}]"</c> with a <see cref="StateFingerprinter"/> fingerprint whose context is
/// <see cref="FingerprintContext"/>.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class SensitiveData
{
    /// <summary>What a redacted member without a fingerprint is stored as.</summary>
    public const string Marker = "[redacted:sensitive]";

    private const string FingerprintPrefix = "[redacted:sensitive:";
    private const string KeySource = "StateManagerOptions.SensitiveKeyRing";

    [ThreadStatic]
    private static Context t_context; // a struct: opening a record's context allocates nothing

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    /// <summary>
    /// Opens the context of one record on this thread until the returned scope is disposed. Scopes nest.
    /// </summary>
    /// <param name="encryptor">Encrypts members and makes fingerprints; <see langword="null"/> when the manager has no key ring.</param>
    /// <param name="scope">The scope path of the record.</param>
    /// <param name="key">The normalized key of the record.</param>
    public static SensitiveDataScope Begin(StateEncryptor? encryptor, string scope, string key)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(key);
        Context previous = t_context;
        t_context = new Context(encryptor, scope, key);
        return new SensitiveDataScope(previous);
    }

    /// <summary>The context a fingerprint is made with: <c>{stable type name}.{member path}</c>, e.g. <c>Agent.ApiKey</c>.</summary>
    public static string FingerprintContext(string typeName, string memberPath) => typeName + "." + memberPath;

    /// <summary>
    /// Reads the fingerprint out of a stored redaction marker (<c>"[redacted:sensitive:{fingerprint}]"</c>). Compare it
    /// with <see cref="StateFingerprinter.Matches(string, string, string)"/> and <see cref="FingerprintContext"/>.
    /// </summary>
    public static bool TryGetFingerprint(string? stored, [NotNullWhen(true)] out string? fingerprint)
    {
        if (stored is not null && stored.Length == FingerprintPrefix.Length + StateFingerprinter.FingerprintLength + 1
            && stored.StartsWith(FingerprintPrefix, StringComparison.Ordinal) && stored[^1] == ']')
        {
            fingerprint = stored.Substring(FingerprintPrefix.Length, StateFingerprinter.FingerprintLength);
            return true;
        }

        fingerprint = null;
        return false;
    }

    /// <summary>Writes the marker of a redacted member without a fingerprint (<c>null</c> for a null value).</summary>
    public static void WriteRedacted(Utf8JsonWriter writer, bool isNull)
    {
        if (isNull)
        {
            writer.WriteNullValue();
        }
        else
        {
            writer.WriteStringValue(Marker);
        }
    }

    /// <summary>
    /// Writes the marker of a redacted member with a keyed fingerprint of its value: of a string's UTF-8, a byte
    /// array's bytes, or any other value's JSON. A null value is written as <c>null</c>.
    /// </summary>
    public static void WriteRedacted<T>(Utf8JsonWriter writer, T value, string typeName, string memberPath, StateValueWriter<T> write)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(write);
        if (value is null)
        {
            writer.WriteNullValue();
            return;
        }

        Context context = Require(typeName, memberPath, "a [Sensitive(Redact, Fingerprint = true)] member");
        var fingerprinter = new StateFingerprinter(context.Encryptor!.KeyRing);
        string fingerprintContext = FingerprintContext(typeName, memberPath);
        string fingerprint = value switch
        {
            string text => fingerprinter.Compute(fingerprintContext, text),
            byte[] bytes => fingerprinter.Compute(fingerprintContext, bytes),
            _ => WithJson(value, write, writer.Options, static (state, json) => state.Fingerprinter.Compute(state.Context, json), (Fingerprinter: fingerprinter, Context: fingerprintContext)),
        };
        writer.WriteStringValue(FingerprintPrefix + fingerprint + "]");
    }

    /// <summary>Writes an encrypted member: a base64 envelope of the value's JSON under the active key.</summary>
    public static void WriteEncrypted<T>(Utf8JsonWriter writer, T value, string typeName, string memberPath, StateValueWriter<T> write)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(write);
        Context context = Require(typeName, memberPath, "a [Sensitive(Encrypt)] member");
        byte[] associatedData = StateAssociatedData.ForMember(typeName, memberPath, context.Scope!, context.Key!);
        byte[] envelope = WithJson(value, write, writer.Options, static (state, json) => state.Encryptor.Encrypt(json, state.Aad), (Encryptor: context.Encryptor!, Aad: associatedData));
        writer.WriteBase64StringValue(envelope);
    }

    /// <summary>
    /// Reads an encrypted member (the reader on its value): decrypts the envelope with the ring key it names and reads
    /// the value from the plaintext JSON, which is zeroed afterwards.
    /// </summary>
    /// <exception cref="StateDecryptionException">Not an envelope, an unknown key id, a wrong key, altered bytes, or another record's ciphertext.</exception>
    /// <exception cref="StateKeyConfigurationException">The manager has no key ring.</exception>
    public static T ReadEncrypted<T>(ref Utf8JsonReader reader, string typeName, string memberPath, StateValueReader<T> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        Context context = Require(typeName, memberPath, "a [Sensitive(Encrypt)] member");
        string detail = $"Member '{memberPath}' of type '{typeName}'.";
        if (reader.TokenType != JsonTokenType.String || !reader.TryGetBytesFromBase64(out byte[]? envelope))
        {
            throw new StateDecryptionException(StateDecryptionFailureReason.Malformed, null, context.Scope, context.Key, detail + " The stored value is not an encrypted value.");
        }

        byte[] plaintext;
        try
        {
            plaintext = context.Encryptor!.Decrypt(envelope, StateAssociatedData.ForMember(typeName, memberPath, context.Scope!, context.Key!), context.Scope, context.Key);
        }
        catch (StateDecryptionException ex)
        {
            throw new StateDecryptionException(ex.Reason, ex.KeyId, context.Scope, context.Key, detail);
        }

        try
        {
            var inner = new Utf8JsonReader(plaintext, new JsonReaderOptions { MaxDepth = StateJson.MaxDepth });
            StateJson.Read(ref inner);
            return read(ref inner);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private static Context Require(string typeName, string memberPath, string what)
    {
        Context context = t_context;
        if (context.Encryptor is null)
        {
            throw new StateKeyConfigurationException(
                KeySource,
                $"the type '{typeName}' has {what} '{memberPath}', which needs a key ring, and {(context.Scope is null ? "no StateManager opened the record (WriteState/ReadState called directly)" : "the StateManager has none")}. Set StateManagerOptions.SensitiveKeyRing (or open the manager over an EncryptedStateStore); nothing was stored in plaintext.")
            {
                Scope = context.Scope,
                Key = context.Key,
            };
        }

        return context;
    }

    /// <summary>Writes a value's JSON to a per-thread scratch buffer (no secret scan: it is never stored as is), passes it on, then zeroes it.</summary>
    private static TResult WithJson<T, TState, TResult>(T value, StateValueWriter<T> write, JsonWriterOptions options, JsonUse<TState, TResult> use, TState state)
    {
        ArrayBufferWriter<byte> buffer = t_scratch ?? new ArrayBufferWriter<byte>(256);
        t_scratch = null; // re-entrant: a nested state type's encrypted member gets a buffer of its own
        try
        {
            using (SecretScan.Begin(SecretScanPolicy.Off))
            using (var json = new Utf8JsonWriter(buffer, options))
            {
                write(json, value);
                json.Flush();
            }

            return use(state, buffer.WrittenSpan);
        }
        finally
        {
            buffer.Clear(); // zeroes what was written
            if (buffer.Capacity <= 64 * 1024)
            {
                t_scratch = buffer;
            }
        }
    }

    private delegate TResult JsonUse<in TState, out TResult>(TState state, ReadOnlySpan<byte> json);

    internal static void End(Context previous) => t_context = previous;

    /// <summary>The record being written or read: its keys (none without a key ring), scope and key (none outside a manager).</summary>
    internal readonly struct Context
    {
        public Context(StateEncryptor? encryptor, string scope, string key)
        {
            Encryptor = encryptor;
            Scope = scope;
            Key = key;
        }

        public StateEncryptor? Encryptor { get; }

        public string? Scope { get; }

        public string? Key { get; }
    }
}

/// <summary>The record context opened with <see cref="SensitiveData.Begin"/>; disposing it restores the previous one.</summary>
public readonly struct SensitiveDataScope : IDisposable
{
    private readonly SensitiveData.Context _previous;

    internal SensitiveDataScope(SensitiveData.Context previous) => _previous = previous;

    /// <summary>Ends the context on this thread.</summary>
    public void Dispose() => SensitiveData.End(_previous);
}
