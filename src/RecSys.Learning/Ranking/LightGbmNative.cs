using System.Runtime.InteropServices;

namespace RecSys.Learning.Ranking;

/// <summary>
/// The part of LightGBM's C API (lib_lightgbm from the LightGBM 4.7.0 package) the pre-ranker uses. Every call returns
/// 0 on success; <see cref="Check"/> turns anything else into an exception carrying LGBM_GetLastError's text.
/// </summary>
internal static partial class LightGbmNative
{
    private const string Library = "lib_lightgbm";

    public const int DataTypeFloat32 = 0;
    public const int DataTypeFloat64 = 1;
    public const int DataTypeInt32 = 2;
    public const int PredictRawScore = 1;
    public const int ImportanceGain = 1;

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LGBM_DatasetCreateFromMat(float[] data, int dataType, int rows, int columns, int isRowMajor,
        string parameters, IntPtr reference, out IntPtr dataset);

    [LibraryImport(Library, EntryPoint = "LGBM_DatasetSetField", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int DatasetSetFieldFloat(IntPtr dataset, string field, float[] data, int count, int dataType);

    [LibraryImport(Library, EntryPoint = "LGBM_DatasetSetField", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int DatasetSetFieldInt(IntPtr dataset, string field, int[] data, int count, int dataType);

    [LibraryImport(Library)]
    public static partial int LGBM_DatasetFree(IntPtr dataset);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LGBM_BoosterCreate(IntPtr trainData, string parameters, out IntPtr booster);

    [LibraryImport(Library)]
    public static partial int LGBM_BoosterUpdateOneIter(IntPtr booster, out int isFinished);

    [LibraryImport(Library)]
    public static partial int LGBM_BoosterSaveModelToString(IntPtr booster, int startIteration, int numIteration,
        int featureImportanceType, long bufferLength, out long outLength, byte[] buffer);

    [LibraryImport(Library)]
    public static partial int LGBM_BoosterFeatureImportance(IntPtr booster, int numIteration, int importanceType, double[] results);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LGBM_BoosterPredictForMat(IntPtr booster, float[] data, int dataType, int rows, int columns,
        int isRowMajor, int predictType, int startIteration, int numIteration, string parameters, out long outLength, double[] results);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LGBM_BoosterLoadModelFromString(string modelText, out int iterations, out IntPtr booster);

    [LibraryImport(Library)]
    public static partial int LGBM_BoosterFree(IntPtr booster);

    [LibraryImport(Library)]
    private static partial IntPtr LGBM_GetLastError();

    public static void Check(int status, string call)
    {
        if (status != 0)
        {
            var message = Marshal.PtrToStringUTF8(LGBM_GetLastError()) ?? "no message";
            throw new InvalidOperationException($"LightGBM {call} failed: {message}");
        }
    }
}
