using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace RecSys.OnlineStore;

/// <summary>Settings of the embedded Garnet server (section <c>OnlineStore</c>).</summary>
public sealed class OnlineStoreOptions
{
    public const string SectionName = "OnlineStore";

    [Range(1, 65535)]
    public int Port { get; set; } = 6390;

    public string Bind { get; set; } = "127.0.0.1";

    /// <summary>Folder for the append-only file and checkpoints; state survives restarts when set.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Memory for the main store, Garnet syntax (e.g. 4g).</summary>
    public string MemorySize { get; set; } = "2g";

    /// <summary>
    /// Counts commands per type for <c>INFO commandstats</c> (off by default: Garnet then skips the bookkeeping); the cost
    /// benchmark turns it on to report store commands per request.
    /// </summary>
    public bool CommandStats { get; set; }

    /// <summary>
    /// With a data directory: once the append-only file passes this size (Garnet syntax), Garnet takes a checkpoint and
    /// truncates the file behind it. Without a limit the file grows with every write until the disk is full (8.4 GB after
    /// a few soaks of the AppHost).
    /// </summary>
    [RegularExpression(@"^[0-9]+[kKmMgG]?$")]
    public string AofSizeLimit { get; set; } = "256m";

    /// <summary>Segment of the append-only file (Garnet syntax, at least its 32m page): truncation drops whole segments.</summary>
    [RegularExpression(@"^[0-9]+[kKmMgG]?$")]
    public string AofSegmentSize { get; set; } = "64m";

    /// <summary>
    /// More Garnet command-line arguments, appended after the ones set from the other options (e.g.
    /// <c>--lua-memory-management-mode Managed</c>): server settings to measure without a new option each.
    /// </summary>
    public IList<string> GarnetArguments { get; } = [];
}

/// <summary>The data annotations of <see cref="OnlineStoreOptions"/>, checked by generated code.</summary>
[OptionsValidator]
public sealed partial class OnlineStoreOptionsValidator : IValidateOptions<OnlineStoreOptions>;
