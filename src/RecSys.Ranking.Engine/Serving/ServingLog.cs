namespace RecSys.Ranking.Serving;

/// <summary>Log messages of model serving (event ids 4100-4199).</summary>
internal static partial class ServingLog
{
    [LoggerMessage(EventId = 4110, Level = LogLevel.Information, Message = "Ranker release {Release} serves: pre-ranker {PreRanker}, {MainStage} {MainVersion}, {Features} features fetched, provider {Provider}")]
    public static partial void ReleaseLoaded(ILogger logger, string release, string preRanker, string mainStage, string mainVersion, int features, string provider);

    [LoggerMessage(EventId = 4111, Level = LogLevel.Warning, Message = "Ranker release {Release} was not loaded; {Serving} keeps serving: {Reason}")]
    public static partial void ReleaseRejected(ILogger logger, string release, string serving, string reason);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "Ranker release folder {Path} does not exist; {Serving} keeps serving")]
    public static partial void ReleaseFolderMissing(ILogger logger, string path, string serving);

    [LoggerMessage(EventId = 4113, Level = LogLevel.Error, Message = "Closing ranker release {Release} failed")]
    public static partial void ReleaseCloseFailed(ILogger logger, string release, Exception exception);

    [LoggerMessage(EventId = 4114, Level = LogLevel.Error, Message = "Checking for ranker releases failed; retrying at the next interval")]
    public static partial void RefreshFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 4115, Level = LogLevel.Information, Message = "Ranker release {Release} is loaded next to the served one (rollout)")]
    public static partial void ReleasePinned(ILogger logger, string release);

    [LoggerMessage(EventId = 4116, Level = LogLevel.Information, Message = "Pre-ranker {Version}: {Trees} trees compiled for serving, within {MaxDifference} of ONNX Runtime on {Rows} verification rows")]
    public static partial void TreesCompiled(ILogger logger, string version, int trees, double maxDifference, int rows);

    [LoggerMessage(EventId = 4117, Level = LogLevel.Warning, Message = "Pre-ranker {Version} is scored by ONNX Runtime: {Reason}")]
    public static partial void TreesNotCompiled(ILogger logger, string version, string reason);

}
