namespace RecSys.Learning.Interactions;

/// <summary>
/// Builds a <see cref="CsrMatrix"/> from coordinate triples with a parallel, stable counting sort: each chunk of the input
/// counts its rows, a prefix sum gives every chunk its own write offsets per row, chunks scatter in parallel, then each
/// row is sorted by column and duplicates are summed. No per-entry allocation; the result does not depend on the
/// number of threads, because chunk offsets keep input order within a row before the per-row sort.
/// </summary>
internal static class CsrBuilder
{
    private const int MinEntriesPerChunk = 1 << 16;

    public static CsrMatrix Build(int rows, int columns, int[] rowIndices, int[] columnIndices, float[] values)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        ArgumentNullException.ThrowIfNull(rowIndices);
        ArgumentNullException.ThrowIfNull(columnIndices);
        ArgumentNullException.ThrowIfNull(values);
        if (rowIndices.Length != columnIndices.Length || rowIndices.Length != values.Length)
        {
            throw new ArgumentException(
                $"Row, column and value arrays must have the same length (got {rowIndices.Length}, {columnIndices.Length}, {values.Length}).");
        }

        var n = rowIndices.Length;
        var chunks = Math.Clamp(n / MinEntriesPerChunk, 1, Math.Max(1, Math.Min(Environment.ProcessorCount * 2, 16)));
        var chunkSize = (n + chunks - 1) / Math.Max(1, chunks);

        // 1. Count per chunk and row, validating indices and values on the way.
        var counts = new int[chunks][];
        var invalid = new string?[chunks];
        Parallel.For(0, chunks, c =>
        {
            var local = new int[rows];
            var end = Math.Min(n, (c + 1) * chunkSize);
            for (var e = c * chunkSize; e < end; e++)
            {
                var r = rowIndices[e];
                var col = columnIndices[e];
                if ((uint)r >= (uint)rows || (uint)col >= (uint)columns || !float.IsFinite(values[e]))
                {
                    invalid[c] = $"Entry {e} is out of range or not finite: ({r}, {col}, {values[e]}) for a {rows} x {columns} matrix.";
                    return;
                }

                local[r]++;
            }

            counts[c] = local;
        });
        foreach (var message in invalid)
        {
            if (message is not null)
            {
                throw new ArgumentException(message);
            }
        }

        // 2. Offsets: row-major over rows, chunk order within a row (keeps input order: stable).
        var rowStart = new int[rows + 1];
        long running = 0;
        for (var r = 0; r < rows; r++)
        {
            rowStart[r] = (int)running;
            for (var c = 0; c < chunks; c++)
            {
                var count = counts[c][r];
                counts[c][r] = (int)running;
                running += count;
            }
        }

        rowStart[rows] = (int)running;

        // 3. Scatter in parallel; each chunk owns disjoint slots.
        var sortedColumns = new int[n];
        var sortedValues = new float[n];
        Parallel.For(0, chunks, c =>
        {
            var next = counts[c];
            var end = Math.Min(n, (c + 1) * chunkSize);
            for (var e = c * chunkSize; e < end; e++)
            {
                var slot = next[rowIndices[e]]++;
                sortedColumns[slot] = columnIndices[e];
                sortedValues[slot] = values[e];
            }
        });
        counts = null!;

        // 4. Sort each row by column and sum duplicates in place; record the unique length.
        var uniqueLength = new int[rows];
        Parallel.For(0, rows, () => 0, (r, _, _) =>
        {
            uniqueLength[r] = SortAndMerge(sortedColumns.AsSpan(rowStart[r], rowStart[r + 1] - rowStart[r]),
                sortedValues.AsSpan(rowStart[r], rowStart[r + 1] - rowStart[r]));
            return 0;
        }, _ => { });

        var total = 0L;
        for (var r = 0; r < rows; r++)
        {
            total += uniqueLength[r];
        }

        if (total == n)
        {
            return new CsrMatrix(rows, columns, rowStart, sortedColumns, sortedValues);
        }

        // 5. Compact rows that lost duplicates.
        var finalStart = new int[rows + 1];
        for (var r = 0; r < rows; r++)
        {
            finalStart[r + 1] = finalStart[r] + uniqueLength[r];
        }

        var finalColumns = new int[total];
        var finalValues = new float[total];
        Parallel.For(0, rows, r =>
        {
            sortedColumns.AsSpan(rowStart[r], uniqueLength[r]).CopyTo(finalColumns.AsSpan(finalStart[r]));
            sortedValues.AsSpan(rowStart[r], uniqueLength[r]).CopyTo(finalValues.AsSpan(finalStart[r]));
        });
        return new CsrMatrix(rows, columns, finalStart, finalColumns, finalValues);
    }

    /// <summary>Sorts one row by column (values alongside) and sums duplicate columns; returns the unique count.</summary>
    private static int SortAndMerge(Span<int> columns, Span<float> values)
    {
        if (columns.Length <= 1)
        {
            return columns.Length;
        }

        var sorted = true;
        for (var i = 1; i < columns.Length && sorted; i++)
        {
            sorted = columns[i - 1] < columns[i];
        }

        if (sorted)
        {
            return columns.Length;
        }

        columns.Sort(values);
        var write = 0;
        for (var read = 1; read < columns.Length; read++)
        {
            if (columns[read] == columns[write])
            {
                values[write] += values[read];
            }
            else
            {
                write++;
                columns[write] = columns[read];
                values[write] = values[read];
            }
        }

        return write + 1;
    }
}
