using System.Text;

namespace RecSys.Trainer.Generation;

/// <summary>Names of categories and the per-category word lists that item tags and titles are drawn from.</summary>
internal static class Vocabulary
{
    public const int WordsPerCategory = 40;

    private static readonly string[] KnownCategories =
    [
        "music", "sports", "cooking", "travel", "gaming", "science", "fashion", "comedy", "news", "fitness",
        "art", "tech", "movies", "books", "nature", "history", "diy", "finance", "pets", "cars",
        "education", "health", "photography", "dance", "design", "politics", "space", "gardening", "parenting", "outdoors",
    ];

    private static readonly string[] Onsets = ["b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "tr", "pl", "sh"];
    private static readonly string[] Nuclei = ["a", "e", "i", "o", "u", "ai", "ou", "io"];
    private static readonly string[] Codas = ["", "", "n", "r", "s", "l", "x", "m"];

    public static string CategoryName(int index) =>
        index < KnownCategories.Length ? KnownCategories[index] : $"category-{index}";

    /// <summary>Pronounceable pseudo-words, distinct within the category.</summary>
    public static string[] WordsFor(long seed, int category)
    {
        var rng = Rng.For(seed, 11, category);
        var words = new string[WordsPerCategory];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var sb = new StringBuilder();
        for (var i = 0; i < words.Length; i++)
        {
            string word;
            do
            {
                sb.Clear();
                var syllables = 2 + rng.NextInt(2);
                for (var s = 0; s < syllables; s++)
                {
                    sb.Append(Onsets[rng.NextInt(Onsets.Length)]).Append(Nuclei[rng.NextInt(Nuclei.Length)]);
                }

                sb.Append(Codas[rng.NextInt(Codas.Length)]);
                word = sb.ToString();
            }
            while (!seen.Add(word));

            words[i] = word;
        }

        return words;
    }

    public static string Capitalize(string word) => word.Length == 0 ? word : char.ToUpperInvariant(word[0]) + word[1..];
}
