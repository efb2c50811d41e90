using RecSys.Fuzz;
using RecSys.Fuzz.Targets;
using SharpFuzz;

// RecSys.Fuzz <target>                    run under afl-fuzz (SharpFuzz persistent mode; input on stdin)
// RecSys.Fuzz <target> --replay <paths>   run files or folders of inputs once each and report any failure
// RecSys.Fuzz seed <corpus root>          write the generated seeds (snapshots made by our own writer)
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Usage(Console.Out);
    return 0;
}

if (args[0] == "seed")
{
    if (args.Length != 2)
    {
        Usage(Console.Error);
        return 2;
    }

    Seeds.Write(args[1]);
    return 0;
}

Func<IFuzzTarget>? create = args[0] switch
{
    "csv" => () => new CsvImportTarget(new Scratch("csv")),
    "events" => () => new IngestionTarget(),
    "snapshot" => () => new SnapshotTarget(new Scratch("snapshot")),
    "training-set" => () => new TrainingSetJsonTarget(),
    "training-labels" => () => new TrainingLabelsCsvTarget(),
    "model" => () => new ModelTarget(new Scratch("model")),
    _ => null,
};
if (create is null)
{
    Console.Error.WriteLine($"Unknown target '{args[0]}'.");
    Usage(Console.Error);
    return 2;
}

if (args.Length >= 2 && args[1] == "--replay")
{
    return Replay.Run(create(), args[2..]);
}

if (args.Length != 1)
{
    Usage(Console.Error);
    return 2;
}

// The target is created inside the loop: instrumented code may only run once SharpFuzz has mapped AFL's coverage memory.
IFuzzTarget? target = null;
Fuzzer.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target ??= create();
    target.Run(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
});
return 0;

static void Usage(TextWriter writer) => writer.WriteLine(
    """
    usage: RecSys.Fuzz <target> [--replay <file or folder>...]
           RecSys.Fuzz seed <corpus root>
    targets: csv, events, snapshot, training-set, training-labels, model
    """);
