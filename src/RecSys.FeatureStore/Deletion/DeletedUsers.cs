using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using RecSys.Core.Domain;

namespace RecSys.FeatureStore.Deletion;

/// <summary>
/// The durable tombstone list of deleted users: a text file in the FeatureServer's data directory
/// (<see cref="FileName"/>, one <c>user id TAB deleted-at unix ms</c> line per user, appended and flushed to disk before a
/// deletion is acknowledged) and its copy in memory for the hot checks (event log reads, training sets). A deletion is
/// permanent: a tombstoned id stays excluded from serving state, exports, backfills and training sets from then on.
/// The online store holds a second copy (<see cref="Keys.OnlineKeys.DeletedUsers"/>) for the checks that must be atomic with
/// the writes; <see cref="DeletedUsersSync"/> keeps the two in step.
/// </summary>
public sealed class DeletedUsers
{
    public const string FileName = "deleted-users.tsv";

    private readonly ConcurrentDictionary<string, long> _deleted = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    // Kept apart: ConcurrentDictionary's Count and IsEmpty take every lock, and the checks run per log record.
    private int _count;

    /// <summary>Opens (or creates) the list in <paramref name="directory"/>; a malformed line fails here, with its number.</summary>
    public DeletedUsers(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        FilePath = Path.GetFullPath(Path.Combine(directory, FileName));
        Load();
    }

    /// <summary>The list in the configured data directory (relative to the content root).</summary>
    public DeletedUsers(IOptions<FeatureStoreOptions> options, IHostEnvironment environment)
        : this(EventLog.FasterEventLog.ResolveDirectory(options.Value.DataDirectory, environment.ContentRootPath))
    {
    }

    public string FilePath { get; }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Whether <paramref name="userId"/> is deleted (a lock-free read).</summary>
    public bool Contains(string? userId) => userId is not null && Count > 0 && _deleted.ContainsKey(userId);

    /// <summary>The deleted ids.</summary>
    public IReadOnlyCollection<string> UserIds => [.. _deleted.Keys];

    /// <summary>When <paramref name="userId"/> was deleted (unix ms), or null.</summary>
    public long? DeletedAtMs(string userId) => _deleted.TryGetValue(userId, out var at) ? at : null;

    /// <summary>
    /// Records the deletion durably (written and flushed to disk when this returns) unless already recorded; returns
    /// whether it is new.
    /// </summary>
    public async Task<bool> AddAsync(string userId, DateTimeOffset deletedAt, CancellationToken cancellationToken)
    {
        if (!EntityIds.IsValid(userId))
        {
            throw new ArgumentException($"'{userId}' is not a valid user id ({EntityIds.Description}).", nameof(userId));
        }

        if (_deleted.ContainsKey(userId))
        {
            return false;
        }

        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            if (_deleted.ContainsKey(userId))
            {
                return false;
            }

            var at = deletedAt.ToUnixTimeMilliseconds();
            var line = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{userId}\t{at}\n"));
            await using (var stream = new FileStream(FilePath, FileMode.Append, FileAccess.Write, FileShare.Read, 4096, useAsync: true))
            {
                await stream.WriteAsync(line, cancellationToken);
                await stream.FlushAsync(cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            // In memory only once durable: nothing reads a deletion that a crash could still lose.
            _deleted[userId] = at;
            Interlocked.Increment(ref _count);
            return true;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private void Load()
    {
        if (!File.Exists(FilePath))
        {
            return;
        }

        var bytes = File.ReadAllBytes(FilePath);

        // A last line without its newline is a write that a crash cut short: it was never acknowledged, so it is dropped
        // (and cut from the file, so that the next append starts on a line of its own).
        var complete = Array.LastIndexOf(bytes, (byte)'\n') + 1;
        if (complete < bytes.Length)
        {
            using var file = new FileStream(FilePath, FileMode.Open, FileAccess.Write);
            file.SetLength(complete);
            file.Flush(flushToDisk: true);
        }

        var lines = Encoding.UTF8.GetString(bytes, 0, complete).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length == 0)
            {
                continue;
            }

            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab <= 0
                || !EntityIds.IsValid(line[..tab])
                || !long.TryParse(line.AsSpan(tab + 1), NumberStyles.Integer, CultureInfo.InvariantCulture, out var at))
            {
                throw new InvalidDataException(
                    $"The deleted-users list {FilePath} is corrupt at line {i + 1}: expected 'user id<TAB>unix ms'. Restore it from a backup; removing it would bring deleted users back.");
            }

            if (_deleted.TryAdd(line[..tab], at))
            {
                _count++;
            }
        }
    }

    /// <summary>Adds ids learned from the online store's copy (another instance deleted them); returns how many were new.</summary>
    internal async Task<int> MergeAsync(IEnumerable<string> userIds, DateTimeOffset seenAt, CancellationToken cancellationToken)
    {
        var added = 0;
        foreach (var id in userIds)
        {
            if (EntityIds.IsValid(id) && await AddAsync(id, seenAt, cancellationToken))
            {
                added++;
            }
        }

        return added;
    }
}
