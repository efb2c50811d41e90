namespace RecSys.Learning.Interactions;

/// <summary>
/// A sparse matrix in compressed sparse row form: row r holds columns <c>Columns[RowStart[r]..RowStart[r+1]]</c>
/// in ascending order, without duplicates, with their values alongside.
/// </summary>
public sealed class CsrMatrix
{
    internal CsrMatrix(int rows, int columns, int[] rowStart, int[] columnIndices, float[] values)
    {
        RowCount = rows;
        ColumnCount = columns;
        RowStart = rowStart;
        ColumnIndices = columnIndices;
        Values = values;
    }

    public int RowCount { get; }

    public int ColumnCount { get; }

    public int NonZeroCount => RowStart[RowCount];

    /// <summary>Offsets into <see cref="ColumnIndices"/>; length RowCount + 1.</summary>
    public int[] RowStart { get; }

    public int[] ColumnIndices { get; }

    public float[] Values { get; }

    public ReadOnlySpan<int> RowColumns(int row) =>
        ColumnIndices.AsSpan(RowStart[row], RowStart[row + 1] - RowStart[row]);

    public ReadOnlySpan<float> RowValues(int row) =>
        Values.AsSpan(RowStart[row], RowStart[row + 1] - RowStart[row]);

    public int RowLength(int row) => RowStart[row + 1] - RowStart[row];

    /// <summary>True when (row, column) is stored; binary search within the row.</summary>
    public bool Contains(int row, int column) => RowColumns(row).BinarySearch(column) >= 0;

    /// <summary>The transpose (column-major view of the same entries), built with the same parallel counting sort.</summary>
    public CsrMatrix Transpose()
    {
        var rowOfEntry = new int[NonZeroCount];
        Parallel.For(0, RowCount, r => rowOfEntry.AsSpan(RowStart[r], RowStart[r + 1] - RowStart[r]).Fill(r));
        return CsrBuilder.Build(ColumnCount, RowCount, ColumnIndices, rowOfEntry, Values);
    }
}
