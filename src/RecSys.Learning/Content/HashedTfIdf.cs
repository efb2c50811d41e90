using System.IO.Hashing;
using System.Text;
using RecSys.Learning.Interactions;

namespace RecSys.Learning.Content;

/// <summary>What an item says about itself: the text fields content embeddings are built from.</summary>
public sealed record ItemContent(IReadOnlyList<string> Categories, IReadOnlyList<string> Tags, string? Title);

/// <summary>Parameters of <see cref="HashedTfIdf"/>.</summary>
public sealed record TfIdfOptions
{
    /// <summary>Hash buckets (columns); a power of two is not required.</summary>
    public int Buckets { get; init; } = 1 << 15;

    public float CategoryWeight { get; init; } = 1f;

    public float TagWeight { get; init; } = 1f;

    /// <summary>Title words say less per word than a curated category or tag.</summary>
    public float TitleWordWeight { get; init; } = 0.5f;

    /// <summary>Seed of the token hash; another seed gives other collisions.</summary>
    public ulong HashSeed { get; init; } = 0x5EED;

    public void Validate()
    {
        if (Buckets is < 2 or > (1 << 24))
        {
            throw new ArgumentException($"Buckets must be in [2, 2^24] (got {Buckets}).", nameof(Buckets));
        }

        foreach (var (name, weight) in new[] { (nameof(CategoryWeight), CategoryWeight), (nameof(TagWeight), TagWeight), (nameof(TitleWordWeight), TitleWordWeight) })
        {
            if (!float.IsFinite(weight) || weight < 0)
            {
                throw new ArgumentException($"{name} must be finite and >= 0 (got {weight}).", name);
            }
        }
    }
}

/// <summary>
/// Hashed TF-IDF of item content: each category, tag and title word (lower-cased, prefixed by its field so that the tag
/// "drama" and the title word "drama" stay apart) is hashed into one of <see cref="TfIdfOptions.Buckets"/> columns with
/// its field weight as term frequency; columns are weighted by the smoothed inverse document frequency
/// <c>ln((1 + n) / (1 + df)) + 1</c> learned at <see cref="Fit"/>, and every row is scaled to unit length, so the dot
/// product of two rows is their cosine. Hashing needs no vocabulary, so items seen later are transformed the same way.
/// </summary>
public sealed class HashedTfIdf
{
    private readonly TfIdfOptions _options;
    private readonly float[] _idf;

    private HashedTfIdf(TfIdfOptions options, float[] idf)
    {
        _options = options;
        _idf = idf;
    }

    public TfIdfOptions Options => _options;

    public int Buckets => _options.Buckets;

    /// <summary>Learns the document frequencies of <paramref name="items"/> and returns the fitted featurizer.</summary>
    public static HashedTfIdf Fit(IReadOnlyList<ItemContent> items, TfIdfOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(items);
        options ??= new TfIdfOptions();
        options.Validate();
        var documentFrequency = new int[options.Buckets];
        var terms = new Dictionary<int, float>();
        foreach (var item in items)
        {
            Terms(item, options, terms);
            foreach (var bucket in terms.Keys)
            {
                documentFrequency[bucket]++;
            }
        }

        var idf = new float[options.Buckets];
        for (var b = 0; b < idf.Length; b++)
        {
            idf[b] = (float)(Math.Log((1.0 + items.Count) / (1.0 + documentFrequency[b])) + 1.0);
        }

        return new HashedTfIdf(options, idf);
    }

    /// <summary>Rows of unit-length TF-IDF vectors, one per item (an item with no content gets an empty row).</summary>
    public CsrMatrix Transform(IReadOnlyList<ItemContent> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var rowStart = new int[items.Count + 1];
        var columns = new List<int>();
        var values = new List<float>();
        var terms = new Dictionary<int, float>();
        for (var r = 0; r < items.Count; r++)
        {
            Terms(items[r], _options, terms);
            var row = terms.OrderBy(t => t.Key).Select(t => (t.Key, Weight: t.Value * _idf[t.Key])).ToArray();
            var norm = MathF.Sqrt(row.Sum(t => t.Weight * t.Weight));
            foreach (var (bucket, weight) in row)
            {
                columns.Add(bucket);
                values.Add(norm > 0 ? weight / norm : 0f);
            }

            rowStart[r + 1] = columns.Count;
        }

        return new CsrMatrix(items.Count, _options.Buckets, rowStart, [.. columns], [.. values]);
    }

    /// <summary>Summed field weights per bucket of one item's tokens.</summary>
    private static void Terms(ItemContent item, TfIdfOptions options, Dictionary<int, float> terms)
    {
        terms.Clear();
        foreach (var category in item.Categories ?? [])
        {
            Add("c:", category, options.CategoryWeight);
        }

        foreach (var tag in item.Tags ?? [])
        {
            Add("t:", tag, options.TagWeight);
        }

        foreach (var word in Words(item.Title))
        {
            Add("w:", word, options.TitleWordWeight);
        }

        void Add(string field, string token, float weight)
        {
            var text = token.Trim();
            if (text.Length == 0 || weight == 0)
            {
                return;
            }

            var bytes = Encoding.UTF8.GetBytes(field + text.ToLowerInvariant());
            var bucket = (int)(XxHash3.HashToUInt64(bytes, (long)options.HashSeed) % (ulong)options.Buckets);
            terms[bucket] = terms.GetValueOrDefault(bucket) + weight;
        }
    }

    /// <summary>Runs of letters and digits of two characters or more (a title's year, say "1995", counts as a word).</summary>
    internal static IEnumerable<string> Words(string? title)
    {
        if (string.IsNullOrEmpty(title))
        {
            yield break;
        }

        var start = -1;
        for (var i = 0; i <= title.Length; i++)
        {
            var inWord = i < title.Length && char.IsLetterOrDigit(title[i]);
            if (inWord && start < 0)
            {
                start = i;
            }
            else if (!inWord && start >= 0)
            {
                if (i - start >= 2)
                {
                    yield return title[start..i];
                }

                start = -1;
            }
        }
    }
}
