namespace RecSys.Fuzz;

/// <summary>
/// One parser under fuzzing. <see cref="Run"/> gets one input; it catches only the exceptions the parser documents as
/// its clear refusal of bad input, so anything else escapes and is reported to the fuzzer as a crash.
/// </summary>
internal interface IFuzzTarget
{
    string Name { get; }

    string Description { get; }

    void Run(ReadOnlySpan<byte> input);
}
