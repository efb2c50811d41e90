using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using RecSys.Core.Contracts;

namespace RecSys.Candidates;

/// <summary>
/// A compact binary form of <see cref="CandidateResponse"/> for the Retrieval → Ranking hop, chosen by content negotiation
/// (<c>Accept: application/x-recsys-candidates</c>); other clients keep the JSON. With ~5,000 candidates, the JSON repeats
/// three property names and a list of source names per candidate, and decoding it was a large share of Ranking's CPU:
/// here the source names are written once and each candidate carries a bit mask, with the ids and scores in parallel
/// columns.
/// </summary>
/// <remarks>
/// Layout, little-endian: magic <c>RSC1</c>; user id; elapsed ms (f64); index coverage (u8 flag + f64); source-name table
/// (u8 count, strings); source reports (u16 count; name, returned i32, elapsed f64, failed u8, error as u8 flag + string);
/// degraded (u16 count, strings); candidates: i32 count, then count scores (f64), count masks (u32), count ids. A string is
/// a u16 byte length and its UTF-8 bytes. A candidate's sources are decoded in table order: the table is written in the
/// order of the response's source reports (fusion's order), so a candidate's list round-trips unchanged.
/// </remarks>
public static class CandidateWireFormat
{
    public const string MediaType = "application/x-recsys-candidates";

    /// <summary>Sources a mask can name.</summary>
    public const int MaxSources = 32;

    private const uint Magic = 0x31435352; // "RSC1" read as a little-endian u32.

    /// <summary>
    /// Prepares <paramref name="response"/> for writing: null when it cannot be represented (more than
    /// <see cref="MaxSources"/> source names, a string longer than 65,535 UTF-8 bytes, or a candidate whose sources are not in
    /// the order of the reports); the caller then answers JSON.
    /// </summary>
    public static Encoded? TryEncode(CandidateResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var candidates = response.Candidates;
        var table = new List<string>(response.Sources.Count);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var report in response.Sources)
        {
            if (index.TryAdd(report.Source, table.Count))
            {
                table.Add(report.Source);
            }
        }

        var masks = new uint[candidates.Count];
        long length = 4 + Size(response.UserId) + 8 + 1 + 8 + 1 + 2 + 2 + 4;
        // Candidates with the same sources usually share one list (fusion hands out one per set of sources): its mask is
        // worked out once.
        IReadOnlyList<string>? lastSources = null;
        var lastMask = 0u;
        // Columns (the retriever's answer) are read as they are, without a CandidateDto per candidate.
        var columns = candidates as CandidateColumns;
        for (var i = 0; i < masks.Length; i++)
        {
            string itemId;
            IReadOnlyList<string> sources;
            if (columns is not null)
            {
                itemId = columns.ItemIds[i];
                sources = columns.Sources[i];
            }
            else
            {
                var candidate = candidates[i];
                itemId = candidate.ItemId;
                sources = candidate.Sources;
            }

            if (!ReferenceEquals(sources, lastSources))
            {
                if (MaskOf(sources, table, index) is not { } mask)
                {
                    return null;
                }

                lastSources = sources;
                lastMask = mask;
            }

            masks[i] = lastMask;
            length += 8 + 4 + Size(itemId);
        }

        if (response.Sources.Count > ushort.MaxValue || response.Degraded.Count > ushort.MaxValue)
        {
            return null;
        }

        foreach (var name in table)
        {
            length += Size(name);
        }

        foreach (var report in response.Sources)
        {
            length += Size(report.Source) + 4 + 8 + 1 + 1 + Size(report.Error ?? "");
        }

        foreach (var degraded in response.Degraded)
        {
            length += Size(degraded);
        }

        return length <= int.MaxValue && table.Count <= MaxSources ? new Encoded(response, [.. table], masks, (int)length) : null;
    }

    /// <summary>
    /// The bits of <paramref name="sources"/> in the table (names not yet in it are appended); null when the list is not in
    /// table order, repeats a name or needs more than <see cref="MaxSources"/> bits (a mask keeps no order of its own: only
    /// lists in table order round-trip).
    /// </summary>
    private static uint? MaskOf(IReadOnlyList<string> sources, List<string> table, Dictionary<string, int> index)
    {
        var mask = 0u;
        var last = -1;
        for (var j = 0; j < sources.Count; j++)
        {
            var source = sources[j];
            if (!index.TryGetValue(source, out var bit))
            {
                bit = table.Count;
                index[source] = bit;
                table.Add(source);
            }

            if (bit <= last || bit >= MaxSources)
            {
                return null;
            }

            last = bit;
            mask |= 1u << bit;
        }

        return mask;
    }

    /// <summary>Bytes a string takes (u16 length + UTF-8), or more than any response may hold when it does not fit a u16.</summary>
    private static long Size(string value)
    {
        var bytes = Encoding.UTF8.GetByteCount(value);
        return bytes > ushort.MaxValue ? (long)int.MaxValue + 1 : 2 + bytes;
    }

    /// <summary>A response ready to write: its source table, the candidates' masks and the exact length in bytes.</summary>
    public sealed class Encoded
    {
        private readonly CandidateResponse _response;
        private readonly string[] _table;
        private readonly uint[] _masks;

        internal Encoded(CandidateResponse response, string[] table, uint[] masks, int length)
        {
            _response = response;
            _table = table;
            _masks = masks;
            Length = length;
        }

        public int Length { get; }

        /// <summary>Writes the response: one <see cref="IBufferWriter{T}.GetSpan"/> of <see cref="Length"/> bytes and one advance.</summary>
        public void WriteTo(IBufferWriter<byte> output)
        {
            ArgumentNullException.ThrowIfNull(output);
            output.Advance(WriteInto(output.GetSpan(Length)));
        }

        /// <summary>
        /// Writes the response into <paramref name="destination"/> (at least <see cref="Length"/> bytes); returns the bytes
        /// written (<see cref="Length"/>). Columns of scores and masks are copied as blocks on a little-endian machine.
        /// </summary>
        public int WriteInto(Span<byte> destination)
        {
            if (destination.Length < Length)
            {
                throw new ArgumentException($"{destination.Length} bytes for a response of {Length}.", nameof(destination));
            }

            var w = new Writer(destination[..Length]);
            var response = _response;
            w.U32(Magic);
            w.String(response.UserId);
            w.F64(response.ElapsedMs);
            w.U8(response.IndexCoverage.HasValue ? (byte)1 : (byte)0);
            w.F64(response.IndexCoverage ?? 0);
            w.U8((byte)_table.Length);
            foreach (var name in _table)
            {
                w.String(name);
            }

            w.U16((ushort)response.Sources.Count);
            foreach (var report in response.Sources)
            {
                w.String(report.Source);
                w.I32(report.Returned);
                w.F64(report.ElapsedMs);
                w.U8(report.Failed ? (byte)1 : (byte)0);
                w.U8(report.Error is null ? (byte)0 : (byte)1);
                w.String(report.Error ?? "");
            }

            w.U16((ushort)response.Degraded.Count);
            foreach (var degraded in response.Degraded)
            {
                w.String(degraded);
            }

            var candidates = response.Candidates;
            var count = _masks.Length;
            w.I32(count);
            if (candidates is CandidateColumns columns)
            {
                w.F64s(columns.Scores.AsSpan(0, count));
                w.U32s(_masks);
                foreach (var id in columns.ItemIds.AsSpan(0, count))
                {
                    w.String(id);
                }
            }
            else
            {
                for (var i = 0; i < count; i++)
                {
                    w.F64(candidates[i].Score);
                }

                w.U32s(_masks);
                for (var i = 0; i < count; i++)
                {
                    w.String(candidates[i].ItemId);
                }
            }

            if (w.Position != Length)
            {
                throw new InvalidOperationException($"Wrote {w.Position} bytes of a response announced as {Length}.");
            }

            return Length;
        }
    }

    /// <summary>Reads a response written by <see cref="Encoded.WriteTo"/>; <see cref="FormatException"/> when the bytes are not one.</summary>
    public static CandidateResponse Read(ReadOnlySpan<byte> data)
    {
        var decoded = Read(data, static (id, score, sources) => new CandidateDto(id, score, sources));
        return new CandidateResponse(decoded.UserId, decoded.Candidates, decoded.Sources, decoded.Degraded, decoded.ElapsedMs) { IndexCoverage = decoded.IndexCoverage };
    }

    /// <summary>
    /// Reads a response written by <see cref="Encoded.WriteTo"/> straight into the caller's candidate type (one object per
    /// candidate, no <see cref="CandidateDto"/> in between); <see cref="FormatException"/> when the bytes are not one.
    /// </summary>
    public static DecodedCandidates<TCandidate> Read<TCandidate>(ReadOnlySpan<byte> data, CandidateFactory<TCandidate> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        return ReadCore(data, null, (id, _, score, sources) => create(id, score, sources));
    }

    /// <summary>
    /// As <see cref="Read{TCandidate}(ReadOnlySpan{byte}, CandidateFactory{TCandidate})"/>, with the ids' UTF-8 bytes first
    /// offered to <paramref name="resolve"/>, all at once: an id it knows is handed on as its string (no new string per
    /// candidate) with its number; the others are decoded as usual, with number -1.
    /// </summary>
    public static DecodedCandidates<TCandidate> Read<TCandidate>(ReadOnlySpan<byte> data, CandidateIdResolver resolve, ResolvedCandidateFactory<TCandidate> create)
    {
        ArgumentNullException.ThrowIfNull(resolve);
        ArgumentNullException.ThrowIfNull(create);
        return ReadCore(data, resolve, create);
    }

    private static DecodedCandidates<TCandidate> ReadCore<TCandidate>(ReadOnlySpan<byte> data, CandidateIdResolver? resolve, ResolvedCandidateFactory<TCandidate> create)
    {
        var r = new Reader(data);
        if (r.U32() != Magic)
        {
            throw new FormatException("Not a candidate response (bad magic).");
        }

        var userId = r.String();
        var elapsed = r.F64();
        var hasCoverage = r.U8() != 0;
        var coverage = r.F64();
        var table = new string[r.U8()];
        if (table.Length > MaxSources)
        {
            throw new FormatException($"{table.Length} source names: at most {MaxSources}.");
        }

        for (var i = 0; i < table.Length; i++)
        {
            table[i] = r.String();
        }

        var reports = new SourceReport[r.U16()];
        for (var i = 0; i < reports.Length; i++)
        {
            var name = r.String();
            var returned = r.I32();
            var ms = r.F64();
            var failed = r.U8() != 0;
            var hasError = r.U8() != 0;
            var error = r.String();
            reports[i] = new SourceReport(name, returned, ms, failed, hasError ? error : null);
        }

        var degraded = new string[r.U16()];
        for (var i = 0; i < degraded.Length; i++)
        {
            degraded[i] = r.String();
        }

        var count = r.I32();
        // Each candidate takes at least 8 + 4 + 2 bytes: a count the rest cannot hold is corrupt (and no huge allocation).
        if (count < 0 || (long)count * 14 > r.Remaining)
        {
            throw new FormatException($"Candidate count {count} does not fit the {r.Remaining} bytes left.");
        }

        // Pooled: ~60 KB per 5,000 candidates that live only while decoding.
        var scores = ArrayPool<double>.Shared.Rent(count);
        var masks = ArrayPool<uint>.Shared.Rent(count);
        try
        {
            return ReadCandidates(ref r, data, count, scores, masks, table, userId, elapsed, hasCoverage ? coverage : null, reports, degraded, resolve, create);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(scores);
            ArrayPool<uint>.Shared.Return(masks);
        }
    }

    private static DecodedCandidates<TCandidate> ReadCandidates<TCandidate>(ref Reader r, ReadOnlySpan<byte> data, int count, double[] scores, uint[] masks,
        string[] table, string userId, double elapsed, double? coverage, SourceReport[] reports, string[] degraded, CandidateIdResolver? resolve,
        ResolvedCandidateFactory<TCandidate> create)
    {
        for (var i = 0; i < count; i++)
        {
            scores[i] = r.F64();
        }

        for (var i = 0; i < count; i++)
        {
            masks[i] = r.U32();
        }

        // With a resolver: where each id's bytes are, then the resolver's answers for all of them.
        int[]? starts = null;
        string?[]? known = null;
        int[]? numbers = null;
        if (resolve is not null)
        {
            starts = ArrayPool<int>.Shared.Rent(count);
            var lengths = ArrayPool<int>.Shared.Rent(count);
            known = ArrayPool<string?>.Shared.Rent(count);
            numbers = ArrayPool<int>.Shared.Rent(count);
            var idsStart = r.Position;
            for (var i = 0; i < count; i++)
            {
                lengths[i] = r.U16();
                starts[i] = r.Position;
                r.Skip(lengths[i]);
            }

            r = new Reader(data, idsStart);
            // A pooled array may hold another user's strings: an id the resolver leaves alone counts as unknown.
            known.AsSpan(0, count).Clear();
            resolve(data, starts.AsSpan(0, count), lengths.AsSpan(0, count), known.AsSpan(0, count), numbers.AsSpan(0, count));
            ArrayPool<int>.Shared.Return(lengths);
        }

        // One source list per distinct mask, shared by the candidates that have it (a handful of lists for 5,000 candidates).
        var lists = new Dictionary<uint, string[]>();
        var candidates = new TCandidate[count];
        for (var i = 0; i < count; i++)
        {
            var mask = masks[i];
            if (!lists.TryGetValue(mask, out var sources))
            {
                if (table.Length < MaxSources && mask >> table.Length != 0)
                {
                    throw new FormatException($"Candidate {i} names a source outside the table of {table.Length}.");
                }

                sources = new string[BitOperations.PopCount(mask)];
                var n = 0;
                for (var bit = 0; bit < table.Length; bit++)
                {
                    if ((mask & (1u << bit)) != 0)
                    {
                        sources[n++] = table[bit];
                    }
                }

                lists[mask] = sources;
            }

            var utf8 = r.Utf8();
            candidates[i] = known?[i] is { } id
                ? create(id, numbers![i], scores[i], sources)
                : create(Encoding.UTF8.GetString(utf8), -1, scores[i], sources);
        }

        if (known is not null)
        {
            ArrayPool<int>.Shared.Return(starts!);
            ArrayPool<string?>.Shared.Return(known, clearArray: true);
            ArrayPool<int>.Shared.Return(numbers!);
        }

        if (r.Remaining != 0)
        {
            throw new FormatException($"{r.Remaining} bytes after the last candidate.");
        }

        return new DecodedCandidates<TCandidate>(userId, candidates, reports, degraded, elapsed, coverage);
    }

    /// <summary>Writes into a span <see cref="TryEncode"/> sized exactly (a write past it throws).</summary>
    private ref struct Writer(Span<byte> output)
    {
        private readonly Span<byte> _output = output;
        private int _position;

        public readonly int Position => _position;

        public void U8(byte v) => _output[_position++] = v;

        public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);

        public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);

        public void I32(int v) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), v);

        public void F64(double v) => BinaryPrimitives.WriteDoubleLittleEndian(Take(8), v);

        public void F64s(ReadOnlySpan<double> values)
        {
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(values).CopyTo(Take(values.Length * sizeof(double)));
                return;
            }

            foreach (var v in values)
            {
                F64(v);
            }
        }

        public void U32s(ReadOnlySpan<uint> values)
        {
            if (BitConverter.IsLittleEndian)
            {
                MemoryMarshal.AsBytes(values).CopyTo(Take(values.Length * sizeof(uint)));
                return;
            }

            foreach (var v in values)
            {
                U32(v);
            }
        }

        /// <summary>A string <see cref="TryEncode"/> has checked to fit a u16 length.</summary>
        public void String(string v)
        {
            var length = Encoding.UTF8.GetBytes(v, _output[(_position + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(_output[_position..], (ushort)length);
            _position += 2 + length;
        }

        private Span<byte> Take(int n)
        {
            var span = _output.Slice(_position, n);
            _position += n;
            return span;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> data, int position = 0)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position = position;

        public readonly int Remaining => _data.Length - _position;

        public readonly int Position => _position;

        public void Skip(int n) => Take(n);

        public byte U8() => Take(1)[0];

        public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public double F64() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

        public string String()
        {
            var length = U16();
            return length == 0 ? "" : Encoding.UTF8.GetString(Take(length));
        }

        /// <summary>A string's UTF-8 bytes, as they are in the data.</summary>
        public ReadOnlySpan<byte> Utf8() => Take(U16());

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n > Remaining)
            {
                throw new FormatException($"The candidate response ends early: {n} bytes wanted at offset {_position}, {Remaining} left.");
            }

            var span = _data.Slice(_position, n);
            _position += n;
            return span;
        }
    }
}

/// <summary>Makes one decoded candidate: its id, fused score and source names (a list shared by candidates with the same sources).</summary>
public delegate TCandidate CandidateFactory<out TCandidate>(string itemId, double score, IReadOnlyList<string> sources);

/// <summary>
/// Finds candidate ids the caller already holds by their UTF-8 bytes, all of a response at once (so that the memory reads
/// of many ids can overlap): id k is <c>data[starts[k]..(starts[k] + lengths[k])]</c>; sets <c>ids[k]</c> to the caller's
/// string for it and <c>numbers[k]</c> to a number of the caller's (e.g. a dense item number), or <c>ids[k]</c> to null
/// when the caller does not know the id.
/// </summary>
public delegate void CandidateIdResolver(ReadOnlySpan<byte> data, ReadOnlySpan<int> starts, ReadOnlySpan<int> lengths, Span<string?> ids, Span<int> numbers);

/// <summary>Makes one decoded candidate with the number <see cref="CandidateIdResolver"/> gave its id (-1 when it did not know it).</summary>
public delegate TCandidate ResolvedCandidateFactory<out TCandidate>(string itemId, int number, double score, IReadOnlyList<string> sources);

/// <summary>A decoded <see cref="CandidateResponse"/> whose candidates are of the caller's type.</summary>
public sealed record DecodedCandidates<TCandidate>(
    string UserId,
    TCandidate[] Candidates,
    IReadOnlyList<SourceReport> Sources,
    IReadOnlyList<string> Degraded,
    double ElapsedMs,
    double? IndexCoverage);
