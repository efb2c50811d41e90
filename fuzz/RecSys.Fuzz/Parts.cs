namespace RecSys.Fuzz;

/// <summary>Splits one fuzz input into several files: parts are separated by a 0x01 byte, which text formats never need.</summary>
internal static class Parts
{
    public const byte Separator = 0x01;

    public static List<ReadOnlyMemory<byte>> Split(ReadOnlySpan<byte> input, int max)
    {
        var bytes = input.ToArray();
        var parts = new List<ReadOnlyMemory<byte>>();
        var start = 0;
        for (var i = 0; i < bytes.Length && parts.Count < max - 1; i++)
        {
            if (bytes[i] == Separator)
            {
                parts.Add(bytes.AsMemory(start, i - start));
                start = i + 1;
            }
        }

        parts.Add(bytes.AsMemory(start));
        return parts;
    }
}
