namespace StateGen.Storage;

/// <summary>
/// A range of change records a store lost and went on after (<see cref="IStateHistoryStore.HistoryGaps"/>): a crash kept
/// the values those changes wrote, but not the records of the changes themselves.
/// </summary>
/// <param name="FromSequence">The first lost sequence.</param>
/// <param name="ToSequence">The last lost sequence.</param>
/// <param name="PreservedBytesPath">
/// A file holding the bytes that could not be read as records (cut from the log and kept for inspection), or
/// <see langword="null"/> when there is none.
/// </param>
public sealed record StateHistoryGap(long FromSequence, long ToSequence, string? PreservedBytesPath);
