namespace RecSys.Trainer.Commands;

/// <summary>Process exit codes of the trainer.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Bad options, a missing file or folder, an unknown column, or a bad row under <c>--on-error stop</c>.</summary>
    public const int InputError = 1;

    /// <summary>The FeatureServer refused records under <c>--on-error stop</c>, or answered with an unexpected status.</summary>
    public const int Rejected = 2;

    /// <summary>The target did not answer after all retries.</summary>
    public const int Unreachable = 3;

    /// <summary>The FeatureServer did not catch up with its event log in time (<c>seed</c>).</summary>
    public const int Timeout = 4;

    public const int Canceled = 130;
}

/// <summary>An error to be shown to the user as one clear line, ending the command with <see cref="ExitCode"/>.</summary>
public sealed class CliException(string message, int exitCode = ExitCodes.InputError) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
