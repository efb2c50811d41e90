using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RecSys.Learning.Registry;

/// <summary>Kinds of models the registry keeps, one active version each.</summary>
public static class ModelKinds
{
    /// <summary>Collaborative and content embeddings (the Trainer's ALS model folder).</summary>
    public const string Embeddings = "embeddings";

    /// <summary>A ranker release: pre-ranker, main ranker and student with their calibration.</summary>
    public const string Rankers = "rankers";
}

/// <summary>Where a registered model stands.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ModelState>))]
public enum ModelState
{
    /// <summary>Registered, never activated.</summary>
    Available,

    /// <summary>Serving now (one per kind).</summary>
    Active,

    /// <summary>Served before; kept for rollback.</summary>
    Previous,

    /// <summary>Refused (failed a check or to load); never activated again without a new registration.</summary>
    Failed,
}

/// <summary>An input feature of a model with its importance.</summary>
public sealed record RegistryFeature(string Name, double Importance);

/// <summary>A file of a model folder (path relative to the folder) with its size and SHA-256.</summary>
public sealed record RegistryFile(string Path, long Bytes, string Sha256);

/// <summary>The event-time range of the data a model was trained on.</summary>
public sealed record TrainingRange(DateTimeOffset? From, DateTimeOffset? Until, long Examples);

/// <summary>One registered model version.</summary>
public sealed record ModelRegistryEntry(
    string Kind,
    string Version,
    string Folder,
    DateTimeOffset CreatedAt,
    DateTimeOffset RegisteredAt,
    TrainingRange Data,
    IReadOnlyList<RegistryFeature> Features,
    IReadOnlyDictionary<string, double> OfflineMetrics,
    IReadOnlyList<RegistryFile> Files,
    ModelState State,
    DateTimeOffset? ActivatedAt,
    string? Reason);

/// <summary>What a caller registers: the registry fills the folder, time, hashes and state.</summary>
public sealed record ModelRegistration(
    string Kind,
    string Version,
    DateTimeOffset CreatedAt,
    TrainingRange Data,
    IReadOnlyList<RegistryFeature> Features,
    IReadOnlyDictionary<string, double> OfflineMetrics);

/// <summary><c>registry.json</c>: every entry, newest registration last.</summary>
internal sealed record RegistryDocument(int SchemaVersion, IReadOnlyList<ModelRegistryEntry> Entries);

/// <summary>
/// The model registry under a data root (<c>&lt;data root&gt;/models</c>): each model lives in
/// <c>&lt;root&gt;/&lt;kind&gt;/&lt;version&gt;/</c>, and <c>registry.json</c> records every version with its creation time,
/// training-data range, features with importance, offline metrics, file hashes and state. One version per kind is active;
/// the versions before it stay for rollback up to a retention count. Changes are read-modify-write under an exclusive lock
/// file and land by an atomic rename, so concurrent trainers and readers never see half a registry.
/// </summary>
public sealed class ModelRegistry
{
    public const string FileName = "registry.json";
    private const string LockFileName = "registry.lock";
    private const int CurrentSchemaVersion = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private readonly TimeProvider _time;

    public ModelRegistry(string root, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        _time = time ?? TimeProvider.System;
    }

    public string Root { get; }

    /// <summary>The folder a model of <paramref name="kind"/> and <paramref name="version"/> is written to before registering.</summary>
    public string FolderFor(string kind, string version)
    {
        CheckName(kind, nameof(kind));
        CheckName(version, nameof(version));
        return Path.Combine(Root, kind, version);
    }

    /// <summary>All entries, oldest registration first; empty when nothing was registered.</summary>
    public IReadOnlyList<ModelRegistryEntry> List(string? kind = null)
    {
        var entries = Load().Entries;
        return kind is null ? entries : [.. entries.Where(e => e.Kind == kind)];
    }

    /// <summary>The active version of <paramref name="kind"/>, or null.</summary>
    public ModelRegistryEntry? GetActive(string kind) => List(kind).LastOrDefault(e => e.State == ModelState.Active);

    /// <summary>The entry of one version, or null.</summary>
    public ModelRegistryEntry? Get(string kind, string version) => List(kind).FirstOrDefault(e => e.Version == version);

    /// <summary>Full path of an entry's folder.</summary>
    public string PathOf(ModelRegistryEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return Path.Combine(Root, entry.Folder);
    }

    /// <summary>
    /// Registers the model already written to <see cref="FolderFor"/>: every file in the folder is hashed into the entry.
    /// A version registered before is refused (versions are immutable).
    /// </summary>
    public ModelRegistryEntry Register(ModelRegistration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        var folder = FolderFor(registration.Kind, registration.Version);
        if (!Directory.Exists(folder))
        {
            throw new InvalidOperationException($"Write the model to {folder} before registering it.");
        }

        var files = HashFolder(folder);
        if (files.Count == 0)
        {
            throw new InvalidOperationException($"{folder} holds no files.");
        }

        return Update<ModelRegistryEntry>(document =>
        {
            if (document.Entries.Any(e => e.Kind == registration.Kind && e.Version == registration.Version))
            {
                throw new InvalidOperationException($"{registration.Kind} version '{registration.Version}' is already registered.");
            }

            var entry = new ModelRegistryEntry(
                registration.Kind,
                registration.Version,
                Path.GetRelativePath(Root, folder),
                registration.CreatedAt,
                _time.GetUtcNow(),
                registration.Data,
                registration.Features,
                new SortedDictionary<string, double>(registration.OfflineMetrics.ToDictionary(), StringComparer.Ordinal),
                files,
                ModelState.Available,
                null,
                null);
            return ([.. document.Entries, entry], entry);
        });
    }

    /// <summary>
    /// Makes <paramref name="version"/> the active one of its kind (the active one before becomes previous), after checking
    /// that its files still hash as registered. A failed version cannot be activated.
    /// </summary>
    public ModelRegistryEntry Activate(string kind, string version)
    {
        var entry = Get(kind, version) ?? throw new InvalidOperationException($"{kind} version '{version}' is not registered.");
        if (entry.State == ModelState.Failed)
        {
            throw new InvalidOperationException($"{kind} version '{version}' failed ({entry.Reason}); register a new version instead.");
        }

        var problems = Verify(entry);
        if (problems.Count > 0)
        {
            throw new InvalidDataException($"{kind} version '{version}' does not match its registration: {string.Join("; ", problems)}");
        }

        var now = _time.GetUtcNow();
        return Update(document =>
        {
            ModelRegistryEntry? activated = null;
            var entries = document.Entries.Select(e =>
            {
                if (e.Kind != kind)
                {
                    return e;
                }

                if (e.Version == version)
                {
                    activated = e with { State = ModelState.Active, ActivatedAt = now, Reason = null };
                    return activated;
                }

                return e.State == ModelState.Active ? e with { State = ModelState.Previous } : e;
            }).ToList();
            return ((IReadOnlyList<ModelRegistryEntry>)entries, activated ?? throw new InvalidOperationException($"{kind} version '{version}' vanished from the registry."));
        });
    }

    /// <summary>
    /// Marks a version failed with the reason. When it was active, the most recently activated previous version becomes
    /// active again (the rollback); returns that version, or null when there is none.
    /// </summary>
    public ModelRegistryEntry? MarkFailed(string kind, string version, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return Update(document =>
        {
            var entries = document.Entries.ToList();
            var index = entries.FindIndex(e => e.Kind == kind && e.Version == version);
            if (index < 0)
            {
                throw new InvalidOperationException($"{kind} version '{version}' is not registered.");
            }

            var wasActive = entries[index].State == ModelState.Active;
            entries[index] = entries[index] with { State = ModelState.Failed, Reason = reason };
            ModelRegistryEntry? restored = null;
            if (wasActive)
            {
                var previous = entries
                    .Select((e, i) => (Entry: e, Index: i))
                    .Where(x => x.Entry.Kind == kind && x.Entry.State == ModelState.Previous)
                    .OrderByDescending(x => x.Entry.ActivatedAt)
                    .FirstOrDefault();
                if (previous.Entry is not null)
                {
                    restored = previous.Entry with { State = ModelState.Active, ActivatedAt = _time.GetUtcNow() };
                    entries[previous.Index] = restored;
                }
            }

            return ((IReadOnlyList<ModelRegistryEntry>)entries, restored);
        });
    }

    /// <summary>
    /// Keeps the active version and the <paramref name="retain"/> most recent other versions of <paramref name="kind"/>
    /// (failed ones count too, so their reasons stay visible for a while); deletes the folders and entries of the rest.
    /// Returns the versions removed.
    /// </summary>
    public IReadOnlyList<string> Prune(string kind, int retain)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(retain);
        var removed = Update<List<ModelRegistryEntry>>(document =>
        {
            var mine = document.Entries.Where(e => e.Kind == kind).ToList();
            var keep = mine.Where(e => e.State == ModelState.Active)
                .Concat(mine.Where(e => e.State != ModelState.Active).OrderByDescending(e => e.RegisteredAt).Take(retain))
                .ToHashSet();
            var drop = mine.Where(e => !keep.Contains(e)).ToList();
            return ([.. document.Entries.Where(e => !drop.Contains(e))], drop);
        });

        foreach (var entry in removed)
        {
            var folder = PathOf(entry);
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        return [.. removed.Select(e => e.Version)];
    }

    /// <summary>Differences between an entry's recorded files and its folder now; empty when it is intact.</summary>
    public IReadOnlyList<string> Verify(ModelRegistryEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var folder = PathOf(entry);
        if (!Directory.Exists(folder))
        {
            return [$"folder {folder} is missing"];
        }

        var now = HashFolder(folder).ToDictionary(f => f.Path, StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var file in entry.Files)
        {
            if (!now.TryGetValue(file.Path, out var current))
            {
                problems.Add($"{file.Path} is missing");
            }
            else if (current.Sha256 != file.Sha256 || current.Bytes != file.Bytes)
            {
                problems.Add($"{file.Path} changed (SHA-256 {current.Sha256[..12]}..., registered {file.Sha256[..12]}...)");
            }
        }

        return problems;
    }

    private static List<RegistryFile> HashFolder(string folder) =>
    [
        .. Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(path =>
            {
                using var stream = File.OpenRead(path);
                var hash = Convert.ToHexStringLower(SHA256.HashData(stream));
                return new RegistryFile(Path.GetRelativePath(folder, path).Replace('\\', '/'), stream.Length, hash);
            }),
    ];

    private static void CheckName(string name, string parameter)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name, parameter);
        if (!IsValidName(name))
        {
            throw new ArgumentException($"'{name}' is not a valid name (ASCII letters, digits, '-', '_', '.'; at most 128; not starting with '.').", parameter);
        }
    }

    private RegistryDocument Load()
    {
        var path = Path.Combine(Root, FileName);
        if (!File.Exists(path))
        {
            return new RegistryDocument(CurrentSchemaVersion, []);
        }

        RegistryDocument? document;
        try
        {
            document = JsonSerializer.Deserialize<RegistryDocument>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The model registry {path} is not valid: {e.Message}", e);
        }

        if (document is null || document.SchemaVersion != CurrentSchemaVersion || document.Entries is null)
        {
            throw new InvalidDataException($"The model registry {path} has schema version {document?.SchemaVersion}; this build reads {CurrentSchemaVersion}.");
        }

        var seen = new HashSet<(string, string)>();
        for (var i = 0; i < document.Entries.Count; i++)
        {
            var entry = document.Entries[i];
            var problem = entry is null ? "it is null" : CheckEntry(entry);
            if (problem is null && !seen.Add((entry!.Kind, entry.Version)))
            {
                problem = $"{entry.Kind} version '{entry.Version}' is registered twice";
            }

            if (problem is not null)
            {
                throw new InvalidDataException($"The model registry {path} is not valid: entry {i}: {problem}.");
            }
        }

        return document;
    }

    /// <summary>
    /// Null when an entry read from registry.json is usable, else what is wrong. The file is input: its folder must be the
    /// one <see cref="FolderFor"/> gives (so verification and pruning never reach outside the registry) and every list,
    /// hash and state must be well formed.
    /// </summary>
    private static string? CheckEntry(ModelRegistryEntry entry)
    {
        if (!IsValidName(entry.Kind) || !IsValidName(entry.Version))
        {
            return "kind and version must be names of ASCII letters, digits, '-', '_', '.'";
        }

        if (entry.Folder != Path.Combine(entry.Kind, entry.Version))
        {
            return $"folder '{entry.Folder}' is not {Path.Combine(entry.Kind, entry.Version)}";
        }

        if (entry.Data is null || entry.Features is null || entry.OfflineMetrics is null || entry.Files is null)
        {
            return "data, features, offlineMetrics and files are required";
        }

        if (entry.Features.Any(f => f is null || string.IsNullOrWhiteSpace(f.Name)))
        {
            return "every feature needs a name";
        }

        if (entry.Files.Any(f => f is null || string.IsNullOrWhiteSpace(f.Path) || f.Bytes < 0 || !IsSha256(f.Sha256)))
        {
            return "every file needs a path, a size and a SHA-256 of 64 lower-case hex digits";
        }

        return Enum.IsDefined(entry.State) ? null : $"state {(int)entry.State} is unknown";
    }

    private static bool IsSha256(string? hash) =>
        hash is { Length: 64 } && hash.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));

    private static bool IsValidName(string? name) =>
        !string.IsNullOrWhiteSpace(name) && name.Length <= 128 && name[0] != '.'
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private T Update<T>(Func<RegistryDocument, (IReadOnlyList<ModelRegistryEntry> Entries, T Result)> change)
    {
        Directory.CreateDirectory(Root);
        using var gate = AcquireLock();
        var (entries, result) = change(Load());
        var path = Path.Combine(Root, FileName);
        var temporary = path + "." + Environment.ProcessId + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(new RegistryDocument(CurrentSchemaVersion, entries), Json));
        File.Move(temporary, path, overwrite: true);
        return result;
    }

    private FileStream AcquireLock()
    {
        // Another process holding the lock file open exclusively throws IOException: wait for it, briefly and boundedly.
        var path = Path.Combine(Root, LockFileName);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 200)
            {
                Thread.Sleep(25);
            }
        }
    }
}
