using System.Diagnostics.CodeAnalysis;

namespace RecSys.VectorSearch;

internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void DimensionMismatch(int expected, int actual) =>
        throw new ArgumentException($"Vector dimension mismatch: expected {expected}, got {actual}.");

    [DoesNotReturn]
    public static void DuplicateId(long id) =>
        throw new ArgumentException($"External id {id} is already present; use Upsert to replace it.");

    [DoesNotReturn]
    public static void OutOfRange(string name, int value) =>
        throw new ArgumentOutOfRangeException(name, value, "Value is out of range.");
}
