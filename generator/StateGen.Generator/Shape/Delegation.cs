using System.Collections.Generic;
using System.Linq;

namespace StateGen.Generator.Shape;

/// <summary>
/// The member types a persisted shape delegates to its <c>JsonSerializerContext</c>, with the member paths that hold
/// them. Shared by the emitter (runtime error messages) and the analyzer (SG0008), so both name the same members.
/// </summary>
internal static class Delegation
{
    /// <summary>
    /// Each delegated type (<c>global::</c> name), in first-use order, with the paths that hold it: <c>Pet</c>,
    /// <c>Pets[]</c>, <c>ByPen{}</c> for the state type's members, <c>Keeper.Favorite</c> for a plain object's.
    /// </summary>
    public static IReadOnlyList<(string FullName, IReadOnlyList<string> Paths)> TypesOf(PersistedTypeShape shape)
    {
        var paths = new Dictionary<string, List<string>>();
        var order = new List<string>();
        foreach (MemberShape member in shape.Members)
        {
            Collect(member.Type, member.JsonName);
        }

        foreach (ObjectShape owner in shape.Objects)
        {
            foreach (MemberShape member in owner.Members)
            {
                Collect(member.Type, SimpleName(owner.FullName) + "." + member.JsonName);
            }
        }

        return order.Select(name => (name, (IReadOnlyList<string>)paths[name].Distinct().ToList())).ToList();

        void Collect(TypeShape type, string path)
        {
            if (type.Kind == ShapeKind.Delegated)
            {
                if (!paths.TryGetValue(type.FullName, out List<string>? list))
                {
                    paths[type.FullName] = list = new List<string>();
                    order.Add(type.FullName);
                }

                list.Add(path);
            }
            else if (type.Element is not null)
            {
                Collect(type.Element, path + type.Kind switch { ShapeKind.Dictionary => "{}", ShapeKind.Nullable => string.Empty, _ => "[]" });
            }
        }
    }

    /// <summary><c>member 'Pet'</c> or <c>members 'Pet', 'Keeper.Favorite'</c>.</summary>
    public static string DescribePaths(IReadOnlyList<string> paths)
        => (paths.Count == 1 ? "member " : "members ") + string.Join(", ", paths.Select(p => "'" + p + "'"));

    /// <summary>A <c>global::</c> name as users write it, for messages.</summary>
    public static string Plain(string fullName) => fullName.Replace("global::", string.Empty);

    /// <summary>The simple name of a type's <c>global::</c> name, without type arguments: <c>Keeper</c>.</summary>
    public static string SimpleName(string fullName)
    {
        int generic = fullName.IndexOf('<');
        string name = generic >= 0 ? fullName.Substring(0, generic) : fullName;
        return name.Substring(name.LastIndexOfAny(new[] { '.', ':' }) + 1);
    }
}
