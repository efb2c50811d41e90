using System.Collections;
using RecSys.Core.Contracts;

namespace RecSys.Candidates;

/// <summary>
/// A response's candidates held as columns (ids, scores, source lists) instead of one <see cref="CandidateDto"/> each: the
/// retriever fills the arrays from its fusion, and <see cref="CandidateWireFormat"/> writes them as they are. A
/// <see cref="CandidateDto"/> is made only when the list is read as one (JSON, tests): each read of an index makes a new one,
/// equal to the last. Read only.
/// </summary>
public sealed class CandidateColumns : IReadOnlyList<CandidateDto>
{
    /// <summary>
    /// Takes the arrays as they are (not copied; the caller hands them over): the first <paramref name="count"/> entries of
    /// each are the candidates, in order. Each candidate's source list is shared with the others that have the same sources.
    /// </summary>
    public CandidateColumns(string[] itemIds, double[] scores, IReadOnlyList<string>[] sources, int count)
    {
        ArgumentNullException.ThrowIfNull(itemIds);
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (itemIds.Length < count || scores.Length < count || sources.Length < count)
        {
            throw new ArgumentException($"Columns shorter than the {count} candidates.", nameof(count));
        }

        ItemIds = itemIds;
        Scores = scores;
        Sources = sources;
        Count = count;
    }

    public int Count { get; }

    internal string[] ItemIds { get; }

    internal double[] Scores { get; }

    internal IReadOnlyList<string>[] Sources { get; }

    public CandidateDto this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return new CandidateDto(ItemIds[index], Scores[index], Sources[index]);
        }
    }

    /// <summary>Candidate <paramref name="index"/>'s id without making its <see cref="CandidateDto"/>.</summary>
    public string ItemIdAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
        return ItemIds[index];
    }

    public IEnumerator<CandidateDto> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return new CandidateDto(ItemIds[i], Scores[i], Sources[i]);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
