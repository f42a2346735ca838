namespace StateGen.Storage;

/// <summary>Rules every store applies the same way.</summary>
internal static class StoreRules
{
    /// <summary>Throws when <see cref="StateWrite.ExpectedVersion"/> does not match what is stored.</summary>
    public static void CheckExpectedVersion(StateWrite write, long? storedVersion)
    {
        if (write.ExpectedVersion is not long expected)
        {
            return;
        }

        long actual = storedVersion ?? 0;
        if (expected != actual)
        {
            throw new StateConcurrencyException(write.Scope, write.Key, expected, storedVersion);
        }
    }
}
