namespace StateGen.Storage;

/// <summary>Rules every store applies the same way.</summary>
internal static class StoreRules
{
    /// <summary>Throws when <see cref="StateOperation.ExpectedVersion"/> does not match what is stored.</summary>
    public static void CheckExpectedVersion(StateOperation operation, long? storedVersion)
    {
        if (operation.ExpectedVersion is not long expected)
        {
            return;
        }

        long actual = storedVersion ?? 0;
        if (expected != actual)
        {
            throw new StateConcurrencyException(operation.Scope, operation.Key, expected, storedVersion);
        }
    }

    /// <summary>Checks a batch before anything is applied.</summary>
    public static void CheckBatch(System.Collections.Generic.IReadOnlyList<StateOperation> operations, int maxPayloadBytes)
    {
        System.ArgumentNullException.ThrowIfNull(operations);
        for (int i = 0; i < operations.Count; i++)
        {
            StateOperation operation = operations[i] ?? throw new System.ArgumentException($"Operation {i} of the batch is null.", nameof(operations));
            if (operation is StateWrite write && write.Payload.Length > maxPayloadBytes)
            {
                throw new StateValueTooLargeException(write.Scope, write.Key, write.Payload.Length, maxPayloadBytes);
            }
        }
    }
}
