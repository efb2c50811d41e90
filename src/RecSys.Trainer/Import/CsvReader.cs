using System.Text;

namespace RecSys.Trainer.Import;

/// <summary>One CSV record: its fields, the line it starts on, and a format problem if it has one.</summary>
public sealed record CsvRecord(IReadOnlyList<string> Fields, long Line, string? Error);

/// <summary>
/// An RFC 4180 reader: fields separated by one delimiter character, optionally quoted; a quote inside a quoted field
/// is doubled; quoted fields may hold delimiters and line breaks; records end with LF, CRLF or CR. A quote in the
/// middle of an unquoted field is kept as text. Text after a closing quote, or a quote still open at the end of the
/// file, makes the record malformed (reported with its line number, parsing goes on with the next record).
/// </summary>
public sealed class CsvReader(TextReader reader, char delimiter = ',') : IDisposable
{
    private readonly char[] _buffer = new char[1 << 16];
    private readonly StringBuilder _field = new();
    private int _position;
    private int _length;
    private long _line = 1;

    public char Delimiter => delimiter;

    public static CsvReader Open(string path, char delimiter) =>
        new(new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, new FileStreamOptions { BufferSize = 1 << 16 }), delimiter);

    /// <summary>The next record, or null at the end. Blank lines are skipped.</summary>
    public CsvRecord? Read()
    {
        while (true)
        {
            if (Peek() < 0)
            {
                return null;
            }

            var start = _line;
            var fields = new List<string>();
            string? error = null;
            var ended = ReadRecord(fields, ref error);
            if (fields.Count == 1 && fields[0].Length == 0 && error is null)
            {
                // A blank line.
                if (!ended)
                {
                    return null;
                }

                continue;
            }

            return new CsvRecord(fields, start, error);
        }
    }

    public IEnumerable<CsvRecord> ReadAll()
    {
        while (Read() is { } record)
        {
            yield return record;
        }
    }

    /// <summary>Reads fields up to the end of the record; false when the input ended.</summary>
    private bool ReadRecord(List<string> fields, ref string? error)
    {
        while (true)
        {
            _field.Clear();
            var c = Next();
            if (c == '"')
            {
                // Quoted field.
                var openedAt = _line;
                while (true)
                {
                    c = Next();
                    if (c < 0)
                    {
                        error ??= $"quoted field opened on line {openedAt} is not closed";
                        fields.Add(_field.ToString());
                        return false;
                    }

                    if (c == '"')
                    {
                        if (Peek() == '"')
                        {
                            Next();
                            _field.Append('"');
                            continue;
                        }

                        break;
                    }

                    if (c == '\r' && Peek() == '\n')
                    {
                        Next();
                        _field.Append('\n');
                        _line++;
                        continue;
                    }

                    if (c is '\n' or '\r')
                    {
                        _line++;
                    }

                    _field.Append((char)c);
                }

                c = Next();
                while (c >= 0 && c != delimiter && c != '\n' && c != '\r')
                {
                    error ??= "unexpected text after a closing quote";
                    _field.Append((char)c);
                    c = Next();
                }
            }
            else
            {
                while (c >= 0 && c != delimiter && c != '\n' && c != '\r')
                {
                    _field.Append((char)c);
                    c = Next();
                }
            }

            fields.Add(_field.ToString());
            if (c == delimiter)
            {
                continue;
            }

            if (c < 0)
            {
                return false;
            }

            if (c == '\r' && Peek() == '\n')
            {
                Next();
            }

            _line++;
            return true;
        }
    }

    private int Peek()
    {
        if (_position == _length && !Fill())
        {
            return -1;
        }

        return _buffer[_position];
    }

    private int Next()
    {
        if (_position == _length && !Fill())
        {
            return -1;
        }

        return _buffer[_position++];
    }

    public void Dispose() => reader.Dispose();

    private bool Fill()
    {
        _length = reader.Read(_buffer, 0, _buffer.Length);
        _position = 0;
        return _length > 0;
    }
}
