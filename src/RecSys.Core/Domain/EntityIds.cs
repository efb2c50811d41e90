namespace RecSys.Core.Domain;

/// <summary>
/// Rules for user, item and creator identifiers. Ids travel in Redis keys, URLs and log records,
/// so they are restricted to a small, delimiter-free alphabet and a bounded length.
/// </summary>
public static class EntityIds
{
    public const int MaxLength = 64;

    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' or '-' or '.';
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    public const string Description = "1 to 64 characters of A-Z, a-z, 0-9, '_', '-' or '.'";
}
