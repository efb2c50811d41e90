using System.Globalization;
using System.Text;
using RecSys.Core.Domain;

namespace RecSys.Trainer.Import;

/// <summary>Deterministic clean-up of foreign identifiers, category and tag names to what the ingestion API accepts.</summary>
public static class Normalization
{
    public const int MaxNameLength = 64;

    /// <summary>
    /// <paramref name="prefix"/> + <paramref name="raw"/> when that is a valid id; otherwise invalid characters become
    /// '_' and a short hash of the original is appended, so two different raw ids can never map to the same id
    /// (whatever the order they are met in). Null when the raw id is empty.
    /// </summary>
    public static string? MapId(string prefix, string raw)
    {
        raw = raw.Trim();
        if (raw.Length == 0)
        {
            return null;
        }

        var candidate = prefix + raw;
        if (EntityIds.IsValid(candidate))
        {
            return candidate;
        }

        var sb = new StringBuilder(candidate.Length);
        foreach (var c in candidate)
        {
            sb.Append(c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' or '.' ? c : '_');
        }

        var hash = Fnv1a(raw).ToString("x8", CultureInfo.InvariantCulture)[..8];
        var keep = Math.Min(sb.Length, EntityIds.MaxLength - hash.Length - 1);
        return $"{sb.ToString(0, keep)}-{hash}";
    }

    /// <summary>
    /// A category kept as written when every character is a letter, digit, space or one of <c>-_&amp;.'</c>;
    /// otherwise other characters become '-' (runs collapsed). Null when nothing is left.
    /// </summary>
    public static string? Category(string raw)
    {
        raw = raw.Trim();
        var sb = new StringBuilder(raw.Length);
        foreach (var c in raw)
        {
            var safe = char.IsAsciiLetterOrDigit(c) || c is ' ' or '-' or '_' or '&' or '.' or '\'';
            if (safe)
            {
                sb.Append(c);
            }
            else if (sb.Length > 0 && sb[^1] != '-')
            {
                sb.Append('-');
            }
        }

        var text = sb.ToString().Trim(' ', '-');
        return Truncate(text);
    }

    /// <summary>A tag lower-cased, '|' read as a space, whitespace collapsed, control characters dropped. Null when nothing is left.</summary>
    public static string? Tag(string raw)
    {
        var sb = new StringBuilder(raw.Length);
        foreach (var c in raw.Trim())
        {
            if (char.IsWhiteSpace(c) || c == '|')
            {
                if (sb.Length > 0 && sb[^1] != ' ')
                {
                    sb.Append(' ');
                }
            }
            else if (!char.IsControl(c))
            {
                sb.Append(char.ToLowerInvariant(c));
            }
        }

        return Truncate(sb.ToString().Trim());
    }

    /// <summary>FNV-1a (64 bit), folded to 32 bits: a stable, dependency-free hash for ids.</summary>
    public static uint Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }

        return (uint)(hash ^ (hash >> 32));
    }

    public static ulong Fnv1a64(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }

        return hash;
    }

    private static string? Truncate(string text)
    {
        if (text.Length > MaxNameLength)
        {
            text = text[..MaxNameLength].TrimEnd();
        }

        return text.Length == 0 ? null : text;
    }
}
