namespace StateGen.Storage.ChangeLog;

/// <summary>
/// A range of change records a <see cref="SegmentLog"/> lost and went on after (a power cut kept the database's commits
/// but not the log's unflushed tail).
/// </summary>
/// <param name="FromSequence">The first lost sequence.</param>
/// <param name="ToSequence">The last lost sequence.</param>
/// <param name="PreservedTailPath">
/// The file holding the bytes the recovery cut off (known only to the open that made the gap), or <see langword="null"/>.
/// </param>
internal sealed record SegmentLogGap(long FromSequence, long ToSequence, string? PreservedTailPath);
