using System.Globalization;
using System.Text;

namespace RecSys.FeatureStore.EventLog;

/// <summary>
/// A place in an <see cref="IEventLog"/> to resume reading from: the next offset of every partition (a partition that is
/// not named is at 0). The embedded log has one partition whose offset is a byte address; a Kafka topic has one offset per
/// partition. <see cref="Start"/> is the beginning of every partition. The stored form (<see cref="ToString"/>,
/// <see cref="Parse"/>) is the offsets joined by commas ("4096" for the embedded log, "120,0,37" for a 3-partition
/// topic), so a position stored by the single-number model of earlier versions still parses.
/// </summary>
public readonly struct LogPosition : IEquatable<LogPosition>
{
    private readonly long[]? _offsets;

    private LogPosition(long[] offsets) => _offsets = offsets;

    /// <summary>The beginning of the log.</summary>
    public static LogPosition Start => default;

    /// <summary>Number of partitions named (trailing ones at 0 may be left out).</summary>
    public int PartitionCount => _offsets?.Length ?? 0;

    /// <summary>True at the beginning of every partition.</summary>
    public bool IsStart => _offsets is null || Array.TrueForAll(_offsets, o => o == 0);

    /// <summary>
    /// One number that grows with the position: the sum of the offsets (the byte address for the embedded log, the number
    /// of records before the position for Kafka). For metrics and progress only: it cannot be read from.
    /// </summary>
    public long Ordinal
    {
        get
        {
            var sum = 0L;
            foreach (var offset in _offsets ?? [])
            {
                sum += offset;
            }

            return sum;
        }
    }

    /// <summary>The next offset of <paramref name="partition"/>.</summary>
    public long this[int partition] =>
        _offsets is { } offsets && partition >= 0 && partition < offsets.Length ? offsets[partition] : 0;

    /// <summary>A position from the next offset of each partition, by partition number.</summary>
    public static LogPosition FromOffsets(ReadOnlySpan<long> offsets)
    {
        foreach (var offset in offsets)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(offset);
        }

        return offsets.IsEmpty ? Start : new LogPosition(offsets.ToArray());
    }

    /// <summary>Parses the stored form; null or empty is <see cref="Start"/>.</summary>
    public static LogPosition Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Start;
        }

        var parts = text.Split(',');
        var offsets = new long[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out offsets[i]))
            {
                throw new FormatException($"'{text}' is not a log position (comma-separated non-negative offsets).");
            }
        }

        return new LogPosition(offsets);
    }

    /// <summary>The next offsets of partitions 0 to <paramref name="partitions"/> - 1.</summary>
    public long[] ToOffsets(int partitions)
    {
        var offsets = new long[partitions];
        for (var p = 0; p < partitions; p++)
        {
            offsets[p] = this[p];
        }

        return offsets;
    }

    /// <summary>
    /// True when every partition's next offset is at or past <paramref name="other"/>'s: a reader at this position has
    /// read everything before <paramref name="other"/>. Compared per partition, because <see cref="Ordinal"/>s can be equal
    /// while one partition is behind and another ahead.
    /// </summary>
    public bool IsAtOrPast(LogPosition other)
    {
        for (var p = 0; p < other.PartitionCount; p++)
        {
            if (this[p] < other[p])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A position of a single-partition log (the embedded log's byte address).</summary>
    public static implicit operator LogPosition(long address) => FromOffsets([address]);

    /// <summary>The <see cref="Ordinal"/>: exact for the embedded log, a summary for partitioned logs.</summary>
    public static implicit operator long(LogPosition position) => position.Ordinal;

    public static LogPosition FromInt64(long address) => address;

    public long ToInt64() => Ordinal;

    public bool Equals(LogPosition other)
    {
        var n = Math.Max(PartitionCount, other.PartitionCount);
        for (var p = 0; p < n; p++)
        {
            if (this[p] != other[p])
            {
                return false;
            }
        }

        return true;
    }

    public override bool Equals(object? obj) => obj is LogPosition other && Equals(other);

    public override int GetHashCode()
    {
        var hash = default(HashCode);
        var last = PartitionCount - 1;
        while (last >= 0 && this[last] == 0)
        {
            last--;
        }

        for (var p = 0; p <= last; p++)
        {
            hash.Add(this[p]);
        }

        return hash.ToHashCode();
    }

    /// <summary>The stored form: offsets joined by commas, "0" at the start.</summary>
    public override string ToString()
    {
        if (_offsets is null || _offsets.Length == 0)
        {
            return "0";
        }

        var sb = new StringBuilder();
        for (var i = 0; i < _offsets.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }

            sb.Append(_offsets[i].ToString(CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }
}
