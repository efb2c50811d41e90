using System.Text.Json;
using System.Text.Json.Serialization;

namespace RecSys.Rollout;

/// <summary>A stage change: from where to where, why, and whether an operator forced it past its gates.</summary>
public sealed record RolloutTransition(DateTimeOffset At, RolloutStage From, RolloutStage To, string Cause, bool Forced);

/// <summary>One rollout as persisted: enough to resume it after a restart.</summary>
public sealed record RolloutRecord(
    string RolloutId,
    string Kind,
    string CandidateVersion,
    string ProductionVersion,
    RolloutStage Stage,
    RolloutOutcome Outcome,
    DateTimeOffset StartedAt,
    DateTimeOffset StageStartedAt,
    DateTimeOffset? EndedAt,
    string? FailedGate,
    string? Reason,
    IReadOnlyList<RolloutTransition> Transitions);

/// <summary><c>rollout-&lt;kind&gt;.json</c>: the current (or last) rollout and a bounded list of earlier ones, newest first.</summary>
internal sealed record RolloutDocument(int SchemaVersion, RolloutRecord? Current, IReadOnlyList<RolloutRecord> Past);

/// <summary>Reads and writes the rollout state; writes land by an atomic rename, so a crash leaves the old or the new file.</summary>
internal sealed class RolloutStateStore
{
    private const int CurrentSchemaVersion = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public RolloutStateStore(string directory, string kind)
    {
        Directory.CreateDirectory(directory);
        FilePath = Path.Combine(Path.GetFullPath(directory), $"rollout-{kind}.json");
    }

    public string FilePath { get; }

    public RolloutDocument Load()
    {
        if (!File.Exists(FilePath))
        {
            return new RolloutDocument(CurrentSchemaVersion, null, []);
        }

        RolloutDocument? document;
        try
        {
            document = JsonSerializer.Deserialize<RolloutDocument>(File.ReadAllText(FilePath), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The rollout state {FilePath} is not valid JSON: {e.Message}", e);
        }

        if (document is null || document.SchemaVersion != CurrentSchemaVersion || document.Past is null)
        {
            throw new InvalidDataException($"The rollout state {FilePath} has schema version {document?.SchemaVersion}; this build reads {CurrentSchemaVersion}.");
        }

        return document;
    }

    public void Save(RolloutRecord? current, IReadOnlyList<RolloutRecord> past)
    {
        var temporary = $"{FilePath}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(new RolloutDocument(CurrentSchemaVersion, current, past), Json));
        File.Move(temporary, FilePath, overwrite: true);
    }
}
