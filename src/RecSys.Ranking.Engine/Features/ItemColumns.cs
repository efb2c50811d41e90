using System.Runtime.InteropServices;

namespace RecSys.Ranking.Features;

/// <summary>
/// A snapshot's item values as one record per item in a flat array, by the item's dense number in the snapshot: the
/// precomputed item-only features (<see cref="RankingFeatureCatalog.ItemOnly"/>, as the row's cells, defaults applied, with a
/// bit per defaulted cell), the embedding and its norm, and the item's categories as numbers. A request's candidate then costs
/// one or two cache lines of this array instead of a chain of objects (values, derived values, embedding, category list and
/// names, and a hash per category per request). Built once per refresh from the same <see cref="EntityValues"/> the general
/// path reads, with the same functions, so that rows computed from here are those computed from the values.
/// </summary>
internal sealed class ItemColumns
{
    // Record layout (floats; the ints are stored by their bits): the item-only cells, then the fields below, then the embedding.
    private const int DefaultedField = 0;
    private const int FlagsField = 1;
    private const int CategoryOffsetField = 2;
    private const int CategoryCountField = 3;
    private const int NormField = 4;
    private const int Fields = 5;

    private const int EmbeddingFlag = 1;
    private const int CategoriesFlag = 2;
    private const int RegularFlag = 4;

    private readonly float[] _records;
    private readonly int[] _categories;

    private ItemColumns(float[] records, int[] categories, int slots, int dimension, Dictionary<string, int> categoryNumbers)
    {
        _records = records;
        _categories = categories;
        Slots = slots;
        Dimension = dimension;
        Stride = slots + Fields + dimension;
        CategoryNumbers = categoryNumbers;
    }

    /// <summary>Item-only features per record (<see cref="RankingFeatureCatalog.ItemOnly"/>).</summary>
    public int Slots { get; }

    /// <summary>The embedding width the records hold (the first embedding's); an item with another width is not regular.</summary>
    public int Dimension { get; }

    public int Stride { get; }

    /// <summary>Category name to number; numbers run from 0 to <see cref="CategoryNumbers"/>.Count - 1.</summary>
    public IReadOnlyDictionary<string, int> CategoryNumbers { get; }

    /// <summary>
    /// Records for <paramref name="items"/> (each with <see cref="EntityValues.PrecomputeItemFeatures"/> run), or null when the
    /// catalog defines more item-only features than a record's defaulted bits hold.
    /// </summary>
    public static ItemColumns? Build(IReadOnlyList<EntityValues> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var itemOnly = RankingFeatureCatalog.ItemOnly;
        var slots = itemOnly.Count;
        if (slots > 32)
        {
            return null;
        }

        var dimension = 0;
        foreach (var item in items)
        {
            if (item.Vector(RankingFeatureCatalog.ItemEmbedding) is { } first)
            {
                dimension = first.Length;
                break;
            }
        }

        var stride = slots + Fields + dimension;
        var length = Math.Max(1, (long)items.Count * stride);
        if (length > Array.MaxLength)
        {
            return null;
        }

        var records = new float[length];
        var categoryNumbers = new Dictionary<string, int>(StringComparer.Ordinal);
        var categories = new List<int>();
        for (var n = 0; n < items.Count; n++)
        {
            var values = items[n];
            var record = records.AsSpan(n * stride, stride);
            var bits = MemoryMarshal.Cast<float, int>(record);
            var defaulted = 0;
            for (var s = 0; s < slots; s++)
            {
                var feature = itemOnly[s];
                var computed = values.TryItemFeature(s, out var known) ? known : feature.Compute(RequestSide.None, values);
                if (computed is { } value && float.IsFinite(value))
                {
                    record[s] = value;
                }
                else
                {
                    record[s] = feature.Default;
                    defaulted |= 1 << s;
                }
            }

            var flags = RegularFlag;
            if (values.Vector(RankingFeatureCatalog.ItemEmbedding) is { } embedding)
            {
                if (embedding.Length == dimension)
                {
                    flags |= EmbeddingFlag;
                    record[slots + NormField] = values.VectorNorm(RankingFeatureCatalog.ItemEmbedding, embedding);
                    embedding.CopyTo(record[(slots + Fields)..]);
                }
                else
                {
                    // Served by the general path (rows from the item's values), where the width is checked per feature.
                    flags &= ~RegularFlag;
                }
            }

            if (values.Ids(RankingFeatureCatalog.ItemCategories) is { } names)
            {
                flags |= CategoriesFlag;
                bits[slots + CategoryOffsetField] = categories.Count;
                bits[slots + CategoryCountField] = names.Count;
                for (var k = 0; k < names.Count; k++)
                {
                    if (!categoryNumbers.TryGetValue(names[k], out var number))
                    {
                        categoryNumbers[names[k]] = number = categoryNumbers.Count;
                    }

                    categories.Add(number);
                }
            }

            bits[slots + DefaultedField] = defaulted;
            bits[slots + FlagsField] = flags;
        }

        return new ItemColumns(records, [.. categories], slots, dimension, categoryNumbers);
    }

    /// <summary>The record of item <paramref name="number"/>.</summary>
    public ItemRecord this[int number] => new(_records.AsSpan(number * Stride, Stride), Slots, _categories);

    /// <summary>
    /// Reads item <paramref name="number"/>'s flags (and with them the record's first lines): a loop over a request's candidates
    /// that does only this keeps many cache misses in flight at once (see <see cref="EntityValues.Touch"/>).
    /// </summary>
    public int Touch(int number) => MemoryMarshal.Cast<float, int>(_records.AsSpan((number * Stride) + Slots + FlagsField, 1))[0];

    /// <summary>One item's record.</summary>
    internal readonly ref struct ItemRecord(Span<float> record, int slots, int[] categories)
    {
        private readonly ReadOnlySpan<float> _record = record;
        private readonly ReadOnlySpan<int> _bits = MemoryMarshal.Cast<float, int>(record);
        private readonly int _slots = slots;
        private readonly int[] _allCategories = categories;

        private int Flags => _bits[_slots + FlagsField];

        /// <summary>False: the item's embedding has another width than the records'; compute its row from its values.</summary>
        public bool IsRegular => (Flags & RegularFlag) != 0;

        public bool HasEmbedding => (Flags & EmbeddingFlag) != 0;

        public bool HasCategories => (Flags & CategoriesFlag) != 0;

        /// <summary>The cell of item-only feature <paramref name="slot"/> (its default when not finite).</summary>
        public float Cell(int slot) => _record[slot];

        /// <summary>1 when the cell of <paramref name="slot"/> is the feature's default, else 0.</summary>
        public int Defaulted(int slot) => (_bits[_slots + DefaultedField] >> slot) & 1;

        public float Norm => _record[_slots + NormField];

        public ReadOnlySpan<float> Embedding => _record[(_slots + Fields)..];

        public ReadOnlySpan<int> Categories => HasCategories
            ? _allCategories.AsSpan(_bits[_slots + CategoryOffsetField], _bits[_slots + CategoryCountField])
            : default;
    }
}
