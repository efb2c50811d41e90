using System.CommandLine;
using RecSys.Trainer.Ingestion;

namespace RecSys.Trainer.Commands;

/// <summary>Options shared by the commands that send to a FeatureServer.</summary>
internal sealed class CommonOptions
{
    public Option<string?> Target { get; } = new("--target")
    {
        Description = $"FeatureServer base URL (default: ${TargetResolver.HttpVariable}, then {TargetResolver.DefaultTarget})",
    };

    public Option<int> BatchSize { get; } = new("--batch-size")
    {
        Description = $"Records per request (1..{Ingestion.SendOptions.MaxBatchSize})",
        DefaultValueFactory = _ => 5_000,
    };

    public Option<int> Concurrency { get; } = new("--concurrency")
    {
        Description = "Requests in flight (1..16)",
        DefaultValueFactory = _ => 3,
    };

    public Option<string> OnError { get; } = CreateOnError();

    public void AddTo(Command command, bool withOnError = true)
    {
        command.Options.Add(Target);
        command.Options.Add(BatchSize);
        command.Options.Add(Concurrency);
        if (withOnError)
        {
            command.Options.Add(OnError);
        }
    }

    public SendOptions ReadSendOptions(ParseResult result, OnErrorMode? forced = null)
    {
        var batch = result.GetValue(BatchSize);
        if (batch is < 1 or > Ingestion.SendOptions.MaxBatchSize)
        {
            throw new CliException($"--batch-size must be between 1 and {Ingestion.SendOptions.MaxBatchSize:N0}.");
        }

        var concurrency = result.GetValue(Concurrency);
        if (concurrency is < 1 or > 16)
        {
            throw new CliException("--concurrency must be between 1 and 16.");
        }

        return new Ingestion.SendOptions { BatchSize = batch, Concurrency = concurrency, OnError = forced ?? OnErrorOf(result) };
    }

    public OnErrorMode OnErrorOf(ParseResult result) =>
        result.GetValue(OnError) == "stop" ? OnErrorMode.Stop : OnErrorMode.Skip;

    private static Option<string> CreateOnError()
    {
        var option = new Option<string>("--on-error")
        {
            Description = "On a bad row or a refused record: skip (count it and go on) or stop (exit non-zero at once)",
            DefaultValueFactory = _ => "skip",
        };
        option.AcceptOnlyFromAmong("skip", "stop");
        return option;
    }
}
