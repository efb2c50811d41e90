using RecSys.Trainer.Commands;
using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Import;

/// <summary>A bad input row: the file, its 1-based line and what is wrong.</summary>
public sealed record RowError(string File, long Line, string Message)
{
    public override string ToString() => $"{File}:{Line}: {Message}";
}

/// <summary>
/// Counts the rows of an import and applies <c>--on-error</c>: under <see cref="OnErrorMode.Skip"/> a bad row is
/// counted and the first few are remembered; under <see cref="OnErrorMode.Stop"/> the first one ends the command.
/// Thread-safe (the parser runs on the pipeline's producer thread while the summary reads it).
/// </summary>
public sealed class ImportReport(OnErrorMode mode)
{
    public const int MaxExamples = 5;

    private readonly List<RowError> _examples = [];
    private long _rows;
    private long _skipped;

    public OnErrorMode Mode => mode;
    public long Rows => Interlocked.Read(ref _rows);
    public long Skipped => Interlocked.Read(ref _skipped);

    public IReadOnlyList<RowError> Examples
    {
        get
        {
            lock (_examples)
            {
                return [.. _examples];
            }
        }
    }

    public void RowRead() => Interlocked.Increment(ref _rows);

    public void Reject(RowError error)
    {
        if (mode == OnErrorMode.Stop)
        {
            throw new CliException($"{error} (stopped: --on-error stop)", ExitCodes.InputError);
        }

        Interlocked.Increment(ref _skipped);
        lock (_examples)
        {
            if (_examples.Count < MaxExamples)
            {
                _examples.Add(error);
            }
        }
    }
}
