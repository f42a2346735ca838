using System;
using System.Buffers.Binary;
using System.Text;

namespace StateGen.Security;

/// <summary>
/// Canonical associated data that binds an envelope to the record it belongs to, so an envelope copied to another
/// scope, key, type, schema version or member fails to decrypt.
/// </summary>
/// <remarks>
/// Layout: a purpose label, then every field, each as a 4-byte big-endian length followed by its UTF-8 bytes (the
/// schema version as a 4-byte big-endian integer). Because every field carries its length and the label differs per
/// purpose, no two distinct tuples give the same bytes. Strings must be well-formed UTF-16: a lone surrogate is an
/// <see cref="ArgumentException"/>, never silently replaced (which would make two strings collide).
/// </remarks>
public static class StateAssociatedData
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly byte[] DocumentLabel = Encoding.ASCII.GetBytes("StateGen/aad/document/v1");
    private static readonly byte[] MemberLabel = Encoding.ASCII.GetBytes("StateGen/aad/member/v1");
    private static readonly byte[] HookValueLabel = Encoding.ASCII.GetBytes("StateGen/aad/hook-value/v1");

    /// <summary>The associated data of a whole encrypted document.</summary>
    /// <param name="scope">The scope path (<see cref="StateScope.Path"/>).</param>
    /// <param name="key">The normalized key.</param>
    /// <param name="typeName">The stable type name.</param>
    /// <param name="schemaVersion">The schema version the document was written with.</param>
    /// <exception cref="ArgumentException">A string is not well-formed UTF-16.</exception>
    public static byte[] ForDocument(string scope, string key, string typeName, int schemaVersion)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(typeName);
        int length = Field(DocumentLabel.Length) + Field(Count(scope, nameof(scope))) + Field(Count(key, nameof(key))) + Field(Count(typeName, nameof(typeName))) + 4;
        byte[] result = new byte[length];
        int at = 0;
        at = Write(result, at, DocumentLabel);
        at = Write(result, at, scope);
        at = Write(result, at, key);
        at = Write(result, at, typeName);
        BinaryPrimitives.WriteInt32BigEndian(result.AsSpan(at), schemaVersion);
        return result;
    }

    /// <summary>The associated data of one encrypted member of a document.</summary>
    /// <param name="typeName">The stable type name of the document.</param>
    /// <param name="memberPath">The member's path in the document, e.g. <c>Credentials.ApiKey</c>.</param>
    /// <param name="scope">The scope path.</param>
    /// <param name="key">The normalized key.</param>
    /// <exception cref="ArgumentException">A string is not well-formed UTF-16.</exception>
    public static byte[] ForMember(string typeName, string memberPath, string scope, string key)
    {
        ArgumentNullException.ThrowIfNull(typeName);
        ArgumentNullException.ThrowIfNull(memberPath);
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(key);
        int length = Field(MemberLabel.Length) + Field(Count(typeName, nameof(typeName))) + Field(Count(memberPath, nameof(memberPath))) + Field(Count(scope, nameof(scope))) + Field(Count(key, nameof(key)));
        byte[] result = new byte[length];
        int at = 0;
        at = Write(result, at, MemberLabel);
        at = Write(result, at, typeName);
        at = Write(result, at, memberPath);
        at = Write(result, at, scope);
        Write(result, at, key);
        return result;
    }

    /// <summary>
    /// The associated data of a value kept in a hook execution record (its old, new or result value), so it cannot be
    /// swapped with a document, with another field or with the record of another scope or key.
    /// </summary>
    /// <param name="scope">The scope path of the record.</param>
    /// <param name="key">The key of the record.</param>
    /// <param name="field">Which value: for example <c>OldValue</c>, <c>NewValue</c> or <c>ResultValue</c>.</param>
    /// <exception cref="ArgumentException">A string is not well-formed UTF-16.</exception>
    public static byte[] ForHookValue(string scope, string key, string field)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(field);
        int length = Field(HookValueLabel.Length) + Field(Count(field, nameof(field))) + Field(Count(scope, nameof(scope))) + Field(Count(key, nameof(key)));
        byte[] result = new byte[length];
        int at = 0;
        at = Write(result, at, HookValueLabel);
        at = Write(result, at, field);
        at = Write(result, at, scope);
        Write(result, at, key);
        return result;
    }

    private static int Field(int length) => checked(4 + length);

    private static int Count(string value, string paramName)
    {
        try
        {
            return StrictUtf8.GetByteCount(value);
        }
        catch (EncoderFallbackException)
        {
            throw new ArgumentException("The text is not well-formed UTF-16 (it contains a lone surrogate).", paramName);
        }
    }

    private static int Write(byte[] destination, int at, ReadOnlySpan<byte> field)
    {
        BinaryPrimitives.WriteInt32BigEndian(destination.AsSpan(at), field.Length);
        field.CopyTo(destination.AsSpan(at + 4));
        return at + 4 + field.Length;
    }

    private static int Write(byte[] destination, int at, string field)
    {
        int written = StrictUtf8.GetBytes(field, destination.AsSpan(at + 4));
        BinaryPrimitives.WriteInt32BigEndian(destination.AsSpan(at), written);
        return at + 4 + written;
    }
}
