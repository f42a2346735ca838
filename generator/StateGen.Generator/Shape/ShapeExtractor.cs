using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using StateGen.Generator.Helpers;

namespace StateGen.Generator.Shape;

/// <summary>
/// Computes the persisted shape of a <c>[PersistentState]</c> type from its symbol: which members are stored, how
/// each member type is written, the id member, the stable name and schema version. The generator emits code from
/// the result; the analyzers report its problems. Walks the reachable type graph with a queue and a symbol map, and
/// sorts what it collects, so the output is deterministic.
/// </summary>
internal static class ShapeExtractor
{
    private static readonly SymbolDisplayFormat FullNameFormat = SymbolDisplayFormat.FullyQualifiedFormat;

    public static ShapeResult Extract(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        var walker = new Walker(cancellationToken);
        return walker.Run(type);
    }

    /// <summary>The stable type name: the attribute's argument, or the simple CLR name (with generic arity).</summary>
    public static string GetStableName(INamedTypeSymbol type)
    {
        AttributeData? attribute = FindAttribute(type, WellKnownNames.PersistentStateAttribute);
        if (attribute is { ConstructorArguments.Length: 1 } && attribute.ConstructorArguments[0].Value is string name && name.Length > 0)
        {
            return name;
        }

        return type.Arity == 0 ? type.Name : type.Name + "`" + type.Arity.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The declared schema version, 1 when the attribute is absent.</summary>
    public static int GetSchemaVersion(INamedTypeSymbol type)
    {
        AttributeData? attribute = FindAttribute(type, WellKnownNames.SchemaVersionAttribute);
        return attribute is { ConstructorArguments.Length: 1 } && attribute.ConstructorArguments[0].Value is int version ? version : 1;
    }

    public static bool HasAttribute(ISymbol symbol, string metadataName) => FindAttribute(symbol, metadataName) is not null;

    /// <summary><c>[JsonIgnore]</c> with no condition, or <c>Condition = Always</c>, excludes a member like <c>[StateIgnore]</c>.</summary>
    private static bool IsJsonIgnored(ISymbol member)
        => FindAttribute(member, WellKnownNames.JsonIgnoreAttribute) is { } attribute
            && !attribute.NamedArguments.Any(a => a.Key == "Condition" && a.Value.Value is int condition && condition != 1);

    /// <summary>The <c>[UpgradeTransform]</c> attributes of a member, with version 0 resolved to the type's version.</summary>
    private static EquatableArray<TransformShape> GetTransforms(ISymbol member, int schemaVersion)
    {
        var transforms = new List<TransformShape>();
        foreach (AttributeData attribute in member.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() != WellKnownNames.UpgradeTransformAttribute
                || attribute.ConstructorArguments.Length == 0 || attribute.ConstructorArguments[0].Value is not string transformer || transformer.Length == 0)
            {
                continue;
            }

            EquatableArray<string> arguments = attribute.ConstructorArguments.Length > 1 && attribute.ConstructorArguments[1].Kind == TypedConstantKind.Array
                ? attribute.ConstructorArguments[1].Values.Select(v => v.Value as string ?? string.Empty).ToEquatableArray()
                : EquatableArray<string>.Empty;
            string? from = null;
            int version = 0;
            foreach (KeyValuePair<string, TypedConstant> named in attribute.NamedArguments)
            {
                if (named.Key == "From" && named.Value.Value is string f && f.Length > 0)
                {
                    from = f;
                }
                else if (named.Key == "Version" && named.Value.Value is int v)
                {
                    version = v;
                }
            }

            transforms.Add(new TransformShape(transformer, arguments, from, version <= 0 ? schemaVersion : version));
        }

        return transforms.ToEquatableArray();
    }

    /// <summary>The <c>[RenamedFrom]</c> attributes of a member, with version 0 resolved to the type's version, oldest first.</summary>
    private static EquatableArray<RenameShape> GetRenames(ISymbol member, int schemaVersion)
    {
        var renames = new List<RenameShape>();
        foreach (AttributeData attribute in member.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() != WellKnownNames.RenamedFromAttribute
                || attribute.ConstructorArguments.Length != 1 || attribute.ConstructorArguments[0].Value is not string oldName || oldName.Length == 0)
            {
                continue;
            }

            int version = 0;
            foreach (KeyValuePair<string, TypedConstant> named in attribute.NamedArguments)
            {
                if (named.Key == "Version" && named.Value.Value is int v)
                {
                    version = v;
                }
            }

            renames.Add(new RenameShape(oldName, version <= 0 ? schemaVersion : version));
        }

        return renames.OrderBy(r => r.Version).ToEquatableArray();
    }

    /// <summary>
    /// The member's <c>[Sensitive]</c> mode (<c>[Sensitive]</c> alone is Omit; an unknown mode value is treated as
    /// Omit, the safe choice) and its <c>Fingerprint</c> flag.
    /// </summary>
    public static SensitiveKind SensitiveOf(ISymbol member, out bool fingerprint)
    {
        fingerprint = false;
        if (FindAttribute(member, WellKnownNames.SensitiveAttribute) is not { } attribute)
        {
            return SensitiveKind.None;
        }

        fingerprint = attribute.NamedArguments.Any(a => a.Key == "Fingerprint" && a.Value.Value is true);
        int mode = attribute.ConstructorArguments is [{ Value: int value }] ? value : 0;
        return mode switch
        {
            1 => SensitiveKind.Redact,
            2 => SensitiveKind.Encrypt,
            _ => SensitiveKind.Omit,
        };
    }

    private static AttributeData? FindAttribute(ISymbol symbol, string metadataName)
    {
        foreach (AttributeData attribute in symbol.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() == metadataName)
            {
                return attribute;
            }
        }

        return null;
    }

    private sealed class Walker
    {
        private readonly CancellationToken _cancellationToken;
        private readonly List<ShapeProblem> _problems = new();
        private readonly Dictionary<ITypeSymbol, ObjectShape?> _objects = new(SymbolEqualityComparer.Default);
        private readonly Queue<(INamedTypeSymbol Type, ISymbol Origin)> _pending = new();
        private readonly Dictionary<ITypeSymbol, EnumShape> _enums = new(SymbolEqualityComparer.Default);

        // The other [PersistentState] types members hold: nodes of the cycle analysis (their names, and their symbols).
        private readonly HashSet<string> _states = new(System.StringComparer.Ordinal);
        private readonly List<INamedTypeSymbol> _stateSymbols = new();
        private int _schemaVersion;

        // [PersistentState(JsonContext = typeof(...))]: its global:: name, and the root's name for messages.
        private string? _jsonContext;
        private string _rootName = string.Empty;

        public Walker(CancellationToken cancellationToken) => _cancellationToken = cancellationToken;

        public ShapeResult Run(INamedTypeSymbol type)
        {
            int schemaVersion = GetSchemaVersion(type);
            _schemaVersion = schemaVersion;
            if (schemaVersion < 1)
            {
                _problems.Add(new ShapeProblem(ShapeProblemKind.InvalidSchemaVersion, type, type.Name, "must be 1 or higher"));
            }

            if (type.TypeKind != TypeKind.Class || type.IsAbstract || type.IsStatic)
            {
                _problems.Add(new ShapeProblem(ShapeProblemKind.NotConstructible, type, type.Name, "is not a non-abstract class or record class"));
            }
            else if (!HasParameterlessConstructor(type, allowPrivate: true))
            {
                _problems.Add(new ShapeProblem(ShapeProblemKind.NotConstructible, type, type.Name, "has no parameterless constructor"));
            }

            ImmutableArray<MemberShape> members = CollectRoot(type, out ExtensionDataShape? extensionData);
            (string idName, IdKind idKind)? id = FindId(type);
            DrainPending();

            if (_problems.Count > 0 || id is null)
            {
                return new ShapeResult(null, _problems.ToImmutableArray());
            }

            string fullName = type.ToDisplayString(FullNameFormat);
            (ObjectShape root, List<ObjectShape> objects, HashSet<string> guarded) = AnalyseCycles(fullName, members);
            var shape = new PersistedTypeShape
            {
                StableName = GetStableName(type),
                SchemaVersion = schemaVersion,
                HasRequiredMembers = HasRequiredMembers(type),
                ImplementedHooks = type.GetMembers()
                    .OfType<IMethodSymbol>()
                    .Where(m => m.IsStatic && !m.IsPartialDefinition && m.Name.StartsWith("UpgradeFromV", System.StringComparison.Ordinal))
                    .Select(m => int.TryParse(m.Name.Substring("UpgradeFromV".Length), NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : 0)
                    .Where(v => v > 0)
                    .OrderBy(v => v)
                    .ToEquatableArray(),
                ResetWhenUnreadable = FindAttribute(type, WellKnownNames.PersistentStateAttribute)?.NamedArguments
                    .Any(a => a.Key == "ResetWhenUnreadable" && a.Value.Value is true) == true,
                FullName = fullName,
                ExtensionData = extensionData,
                JsonContext = _jsonContext,
                IdMemberName = id.Value.idName,
                IdKind = id.Value.idKind,
                Members = members.ToEquatableArray(),
                Objects = objects.OrderBy(o => o.FullName, System.StringComparer.Ordinal).ToEquatableArray(),
                Enums = _enums.Values.OrderBy(e => e.FullName, System.StringComparer.Ordinal).ToEquatableArray(),
                Cycle = root.Cycle,
                GuardedStates = guarded.Where(name => name == fullName || _states.Contains(name)).OrderBy(name => name, System.StringComparer.Ordinal).ToEquatableArray(),
            };
            return new ShapeResult(shape, ImmutableArray<ShapeProblem>.Empty);
        }

        /// <summary>The root's own members; sets what classifying them depends on (context, name, version).</summary>
        private ImmutableArray<MemberShape> CollectRoot(INamedTypeSymbol type, out ExtensionDataShape? extensionData)
        {
            _schemaVersion = GetSchemaVersion(type);
            _rootName = type.Name;
            _jsonContext = ReadJsonContext(type);
            return CollectMembers(type, isRoot: true, out extensionData);
        }

        /// <summary>
        /// The cycle analysis of the graph: this type, its plain objects, and every other <c>[PersistentState]</c> type
        /// reachable from them with its own members and plain objects (walked here, their problems ignored: they are
        /// reported on their own declarations). Returns the root and this type's objects with their loops marked, and
        /// the names of the types that enter the guard.
        /// </summary>
        private (ObjectShape Root, List<ObjectShape> Objects, HashSet<string> Guarded) AnalyseCycles(string fullName, ImmutableArray<MemberShape> members)
        {
            var nodes = new Dictionary<string, ObjectShape>(System.StringComparer.Ordinal)
            {
                [fullName] = new ObjectShape { FullName = fullName, IsValueType = false, Members = members.ToEquatableArray() },
            };
            foreach (ObjectShape? o in _objects.Values)
            {
                nodes[o!.FullName] = o;
            }

            var pending = new Queue<INamedTypeSymbol>(_stateSymbols);
            while (pending.Count > 0)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                INamedTypeSymbol state = pending.Dequeue();
                string name = state.ToDisplayString(FullNameFormat);
                if (nodes.ContainsKey(name))
                {
                    continue;
                }

                var walker = new Walker(_cancellationToken);
                ImmutableArray<MemberShape> stateMembers = walker.CollectRoot(state, out _);
                walker.DrainPending();
                nodes[name] = new ObjectShape { FullName = name, IsValueType = false, Members = stateMembers.ToEquatableArray() };
                foreach (ObjectShape? o in walker._objects.Values)
                {
                    if (o is not null && !nodes.ContainsKey(o.FullName))
                    {
                        nodes[o.FullName] = o;
                    }
                }

                foreach (INamedTypeSymbol next in walker._stateSymbols)
                {
                    pending.Enqueue(next);
                }
            }

            List<ObjectShape> marked = CycleAnalysis.MarkRecursive(nodes.Values).ToList();
            HashSet<string> own = new(_objects.Values.Select(o => o!.FullName));
            return (marked.First(o => o.FullName == fullName), marked.Where(o => own.Contains(o.FullName)).ToList(), CycleAnalysis.Guarded(marked));
        }

        /// <summary>Collects the members of every plain object type queued while classifying members.</summary>
        private void DrainPending()
        {
            while (_pending.Count > 0)
            {
                _cancellationToken.ThrowIfCancellationRequested();
                (INamedTypeSymbol objectType, ISymbol origin) = _pending.Dequeue();
                IMethodSymbol? constructor = HasParameterlessConstructor(objectType, allowPrivate: false) ? null : FindMatchingConstructor(objectType);
                ImmutableArray<MemberShape> objectMembers = CollectMembers(
                    objectType,
                    isRoot: false,
                    out ExtensionDataShape? objectExtensionData,
                    constructorParameters: constructor is null ? null : new HashSet<string>(constructor.Parameters.Select(p => p.Name), System.StringComparer.OrdinalIgnoreCase));
                EquatableArray<string> constructorParameters = EquatableArray<string>.Empty;
                if (constructor is not null)
                {
                    // Each parameter is filled from the persisted member of the same name (a positional record's).
                    var names = new List<string>();
                    foreach (IParameterSymbol parameter in constructor.Parameters)
                    {
                        MemberShape? match = objectMembers.FirstOrDefault(m => string.Equals(m.Name, parameter.Name, System.StringComparison.OrdinalIgnoreCase));
                        if (match is null || match.IsSensitive)
                        {
                            _problems.Add(new ShapeProblem(ShapeProblemKind.UnsupportedMember, origin, origin.Name, $"of type '{objectType.ToDisplayString()}' cannot be persisted: constructor parameter '{parameter.Name}' has no persisted (non-[Sensitive]) member to be filled from"));
                            break;
                        }

                        names.Add(match.Name);
                    }

                    constructorParameters = names.ToEquatableArray();
                }

                _objects[objectType] = new ObjectShape
                {
                    ConstructorParameters = constructorParameters,
                    FullName = objectType.ToDisplayString(FullNameFormat),
                    IsValueType = objectType.IsValueType,
                    HasRequiredMembers = HasRequiredMembers(objectType),
                    Members = objectMembers.ToEquatableArray(),
                    ExtensionData = objectExtensionData,
                };
            }
        }

        private (string, IdKind)? FindId(INamedTypeSymbol type)
        {
            var marked = new List<ISymbol>();
            ISymbol? conventional = null;
            foreach (ISymbol member in AllInstanceMembers(type))
            {
                if (member is not (IPropertySymbol or IFieldSymbol))
                {
                    continue;
                }

                if (HasAttribute(member, WellKnownNames.StateIdAttribute))
                {
                    marked.Add(member);
                }
                else if (member.Name == "Id" && member is IPropertySymbol { GetMethod: not null })
                {
                    conventional ??= member;
                }
            }

            if (marked.Count > 1)
            {
                _problems.Add(new ShapeProblem(ShapeProblemKind.InvalidId, marked[1], type.Name, "has more than one [StateId] member"));
                return null;
            }

            ISymbol? id = marked.Count == 1 ? marked[0] : conventional;
            if (id is null)
            {
                _problems.Add(new ShapeProblem(ShapeProblemKind.MissingId, type, type.Name, "has no [StateId] member and no property named 'Id'"));
                return null;
            }

            if (HasAttribute(id, WellKnownNames.SensitiveAttribute))
            {
                _problems.Add(new ShapeProblem(ShapeProblemKind.InvalidId, id, id.Name, "is [Sensitive], but the id is stored in plain text as part of the key"));
                return null;
            }

            ITypeSymbol idType = id is IPropertySymbol p ? p.Type : ((IFieldSymbol)id).Type;
            IdKind? kind = idType.SpecialType switch
            {
                SpecialType.System_String => IdKind.String,
                SpecialType.System_Int32 => IdKind.Int32,
                SpecialType.System_Int64 => IdKind.Int64,
                _ => idType.ToDisplayString() == "System.Guid" ? IdKind.Guid : null,
            };
            if (kind is null)
            {
                _problems.Add(new ShapeProblem(ShapeProblemKind.InvalidId, id, id.Name, $"is of type '{idType.ToDisplayString()}'; an id must be string, Guid, int or long"));
                return null;
            }

            return (id.Name, kind.Value);
        }

        /// <param name="constructorParameters">For a type built through a constructor: get-only properties named like one of
        /// its parameters are state too (the constructor sets them).</param>
        private ImmutableArray<MemberShape> CollectMembers(INamedTypeSymbol type, bool isRoot, out ExtensionDataShape? extensionData, ISet<string>? constructorParameters = null)
        {
            extensionData = null;
            ImmutableArray<MemberShape>.Builder members = ImmutableArray.CreateBuilder<MemberShape>();
            var seen = new HashSet<string>();
            var jsonNames = new HashSet<string>(System.StringComparer.Ordinal);
            foreach (ISymbol member in AllInstanceMembers(type))
            {
                _cancellationToken.ThrowIfCancellationRequested();
                if (!seen.Add(member.Name))
                {
                    continue; // hidden by a member of a derived type (already taken)
                }

                if (HasAttribute(member, WellKnownNames.StateIgnoreAttribute) || IsJsonIgnored(member) || member.IsImplicitlyDeclared)
                {
                    continue;
                }

                if (HasAttribute(member, WellKnownNames.JsonExtensionDataAttribute))
                {
                    CollectExtensionData(type, member, isRoot, ref extensionData);
                    continue;
                }

                // [JsonInclude] opts a private or protected member of the persistent type itself in: the generated code is
                // part of that type, so it reads and writes the member directly.
                bool included = isRoot && !IsVisible(member.DeclaredAccessibility) && HasAttribute(member, WellKnownNames.JsonIncludeAttribute);
                if (included && !SymbolEqualityComparer.Default.Equals(member.ContainingType, type))
                {
                    _problems.Add(new ShapeProblem(ShapeProblemKind.UnsupportedMember, member, member.Name, $"is a [JsonInclude] member of the base type '{member.ContainingType.Name}'; only members declared on '{type.Name}' itself can be opted in"));
                    continue;
                }

                // [JsonInclude] on a plain object's member: a non-public member, getter or setter is reached through an
                // UnsafeAccessor (reflection-free, trimming- and AOT-safe). .NET 8 has no accessors into generic types.
                bool optedIn = !isRoot && HasAttribute(member, WellKnownNames.JsonIncludeAttribute);
                if (optedIn && IsInGenericType(member.ContainingType) && NeedsAccessor(member))
                {
                    _problems.Add(new ShapeProblem(ShapeProblemKind.UnsupportedMember, member, member.Name, $"is a [JsonInclude] member of the generic type '{member.ContainingType.Name}' that is not public or internal (or has such a getter or setter); UnsafeAccessor cannot reach it on .NET 8. Make it internal or public, or exclude it with [StateIgnore]"));
                    continue;
                }

                included |= optedIn;
                MemberAccess access = MemberAccess.Direct;
                bool setterAccessor = false;
                ITypeSymbol memberType;
                bool fillInPlace = false;
                switch (member)
                {
                    case IPropertySymbol property when !property.IsIndexer && property.GetMethod is not null && (included || IsVisible(property.DeclaredAccessibility)):
                        if (optedIn && !IsVisible(property.GetMethod.DeclaredAccessibility))
                        {
                            access = MemberAccess.Getter;
                        }

                        if (property.SetMethod is null)
                        {
                            if (constructorParameters?.Contains(property.Name) == true)
                            {
                                memberType = property.Type; // set by the constructor
                                break;
                            }

                            if (IsAutoProperty(property) && IsFillableCollection(property.Type))
                            {
                                memberType = property.Type; // `List<T> X { get; } = new();`: loads clear it and add the stored items
                                fillInPlace = true;
                                break;
                            }

                            continue; // computed, or get-only and not a mutable collection: not state
                        }

                        if (!isRoot && !property.SetMethod.IsInitOnly && !IsVisible(property.SetMethod.DeclaredAccessibility))
                        {
                            if (!optedIn)
                            {
                                continue; // a private setter without [JsonInclude] is not state (as for System.Text.Json)
                            }

                            setterAccessor = true;
                        }

                        memberType = property.Type;
                        break;
                    case IFieldSymbol field when (included || IsVisible(field.DeclaredAccessibility)) && !field.IsReadOnly && !field.IsConst:
                        memberType = field.Type;
                        if (optedIn && !IsVisible(field.DeclaredAccessibility))
                        {
                            access = MemberAccess.Field;
                        }

                        break;
                    default:
                        continue;
                }

                TypeShape? shape = Classify(memberType, member);
                if (shape is null)
                {
                    continue;
                }

                string jsonName = FindAttribute(member, WellKnownNames.JsonPropertyNameAttribute) is { ConstructorArguments.Length: 1 } nameAttribute
                    && nameAttribute.ConstructorArguments[0].Value is string declared && declared.Length > 0
                        ? declared
                        : member.Name;
                if (!jsonNames.Add(jsonName))
                {
                    _problems.Add(new ShapeProblem(ShapeProblemKind.UnsupportedMember, member, member.Name, $"of type '{memberType.ToDisplayString()}' is stored as '{jsonName}', a name another member of '{type.Name}' already uses"));
                    continue;
                }

                members.Add(new MemberShape
                {
                    Name = member.Name,
                    JsonName = jsonName,
                    IsInitOnly = member is IPropertySymbol { SetMethod.IsInitOnly: true } || setterAccessor,
                    Access = access,
                    DeclaringType = access != MemberAccess.Direct || setterAccessor ? member.ContainingType.ToDisplayString(FullNameFormat) : null,
                    IsFilledInPlace = fillInPlace,
                    Type = shape,
                    Sensitive = SensitiveOf(member, out bool fingerprint),
                    Fingerprint = fingerprint,
                    Renames = GetRenames(member, _schemaVersion),
                    Transforms = GetTransforms(member, _schemaVersion),
                });
            }

            return members.ToImmutable();
        }

        /// <summary>
        /// A <c>[JsonExtensionData]</c> member of the persistent type or of a plain object reached from it: a settable
        /// <c>Dictionary&lt;string, JsonElement&gt;</c> or <c>JsonObject</c> (on a plain object, readable and settable from
        /// outside it). It is not part of the type's shape (nor of its lock lines).
        /// </summary>
        private void CollectExtensionData(INamedTypeSymbol type, ISymbol member, bool isRoot, ref ExtensionDataShape? extensionData)
        {
            // The generated code of the persistent type is part of it and may use private members; a plain object's
            // member is used from outside, so it must be visible.
            bool visible = isRoot || IsVisible(member.DeclaredAccessibility);
            ITypeSymbol? memberType = member switch
            {
                IPropertySymbol { SetMethod: { IsInitOnly: false } setter, GetMethod: { } getter } property
                    when IsVisible(setter.DeclaredAccessibility) && visible && (isRoot || IsVisible(getter.DeclaredAccessibility)) => property.Type,
                IFieldSymbol { IsReadOnly: false, IsConst: false } field when visible => field.Type,
                _ => null,
            };
            string typeName = memberType?.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString() ?? string.Empty;
            bool isObject = typeName == "System.Text.Json.Nodes.JsonObject";
            bool isDictionary = typeName == "System.Collections.Generic.Dictionary<string, System.Text.Json.JsonElement>";
            if (!isObject && !isDictionary)
            {
                string where = isRoot ? string.Empty : " (on a plain object: public or internal, with a public or internal setter)";
                _problems.Add(new ShapeProblem(ShapeProblemKind.UnsupportedMember, member, member.Name, $"is a [JsonExtensionData] member but not a settable Dictionary<string, JsonElement> or JsonObject{where}"));
            }
            else if (extensionData is not null)
            {
                _problems.Add(new ShapeProblem(ShapeProblemKind.UnsupportedMember, member, member.Name, $"is a second [JsonExtensionData] member of '{type.Name}' ('{extensionData.Name}' is the first)"));
            }
            else
            {
                extensionData = new ExtensionDataShape(member.Name, isObject);
            }
        }

        /// <summary>
        /// The <c>global::</c> name of the <c>JsonSerializerContext</c> named by <c>[PersistentState(JsonContext = ...)]</c>,
        /// or null. A type that is not a context is a problem (SG0007). Its static <c>Default</c> is not checked here: the
        /// System.Text.Json generator adds it, and generators do not see each other's output.
        /// </summary>
        private string? ReadJsonContext(INamedTypeSymbol type)
        {
            AttributeData? attribute = FindAttribute(type, WellKnownNames.PersistentStateAttribute);
            foreach (KeyValuePair<string, TypedConstant> named in attribute?.NamedArguments ?? ImmutableArray<KeyValuePair<string, TypedConstant>>.Empty)
            {
                if (named.Key != "JsonContext" || named.Value.Value is not ITypeSymbol context)
                {
                    continue;
                }

                bool isContext = false;
                for (INamedTypeSymbol? current = (context as INamedTypeSymbol)?.BaseType; current is not null && !isContext; current = current.BaseType)
                {
                    isContext = current.ToDisplayString() == WellKnownNames.JsonSerializerContext;
                }

                if (!isContext || context.IsAbstract || context is INamedTypeSymbol { IsUnboundGenericType: true })
                {
                    _problems.Add(new ShapeProblem(ShapeProblemKind.InvalidJsonContext, type, type.Name, $"names '{context.ToDisplayString()}' as its JsonContext, which is not a non-abstract class derived from System.Text.Json.Serialization.JsonSerializerContext; declare 'partial class {context.Name} : JsonSerializerContext' with [JsonSerializable(typeof(T))] for each type it must serialize"));
                    return null;
                }

                return context.ToDisplayString(FullNameFormat);
            }

            return null;
        }

        private TypeShape? Classify(ITypeSymbol type, ISymbol member)
        {
            string fullName = type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(FullNameFormat);
            ShapeKind? simple = type.SpecialType switch
            {
                SpecialType.System_String => ShapeKind.String,
                SpecialType.System_Boolean => ShapeKind.Boolean,
                SpecialType.System_Char => ShapeKind.Char,
                SpecialType.System_Byte => ShapeKind.Byte,
                SpecialType.System_SByte => ShapeKind.SByte,
                SpecialType.System_Int16 => ShapeKind.Int16,
                SpecialType.System_UInt16 => ShapeKind.UInt16,
                SpecialType.System_Int32 => ShapeKind.Int32,
                SpecialType.System_UInt32 => ShapeKind.UInt32,
                SpecialType.System_Int64 => ShapeKind.Int64,
                SpecialType.System_UInt64 => ShapeKind.UInt64,
                SpecialType.System_Single => ShapeKind.Single,
                SpecialType.System_Double => ShapeKind.Double,
                SpecialType.System_Decimal => ShapeKind.Decimal,
                SpecialType.System_DateTime => ShapeKind.DateTime,
                _ => type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString() switch
                {
                    "System.DateTimeOffset" => ShapeKind.DateTimeOffset,
                    "System.Guid" => ShapeKind.Guid,
                    "System.TimeSpan" => ShapeKind.TimeSpan,
                    "System.DateOnly" => ShapeKind.DateOnly,
                    "System.TimeOnly" => ShapeKind.TimeOnly,
                    "System.Uri" => ShapeKind.Uri,
                    "System.Version" => ShapeKind.Version,
                    "System.Text.Json.JsonElement" => ShapeKind.JsonElement,
                    "System.Text.Json.Nodes.JsonNode" or "System.Text.Json.Nodes.JsonObject" or "System.Text.Json.Nodes.JsonArray" => ShapeKind.JsonNode,
                    _ => null,
                },
            };
            if (simple is not null)
            {
                return new TypeShape { Kind = simple.Value, FullName = fullName, IsValueType = type.IsValueType };
            }

            if (type is IArrayTypeSymbol array)
            {
                if (array.Rank != 1)
                {
                    return Unsupported(member, type, "multi-dimensional arrays are not supported; use an array of arrays or a list, or exclude the member with [StateIgnore]");
                }

                if (array.ElementType.SpecialType == SpecialType.System_Byte)
                {
                    return new TypeShape { Kind = ShapeKind.ByteArray, FullName = fullName, IsValueType = false };
                }

                return Composite(ShapeKind.Array, fullName, array.ElementType, member, isInterface: false);
            }

            if (type is not INamedTypeSymbol named)
            {
                return Unsupported(member, type, "type parameters, pointers and dynamic cannot be persisted; exclude the member with [StateIgnore]");
            }

            if (named.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T)
            {
                return Composite(ShapeKind.Nullable, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: true);
            }

            if (named.TypeKind == TypeKind.Enum)
            {
                AddEnum(named);
                return new TypeShape { Kind = ShapeKind.Enum, FullName = fullName, IsValueType = true };
            }

            if (named.IsGenericType)
            {
                string definition = named.OriginalDefinition.ToDisplayString();
                switch (definition)
                {
                    case "System.Collections.Generic.List<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false);
                    case "System.Collections.Generic.IList<T>":
                    case "System.Collections.Generic.IReadOnlyList<T>":
                    case "System.Collections.Generic.ICollection<T>":
                    case "System.Collections.Generic.IReadOnlyCollection<T>":
                    case "System.Collections.Generic.IEnumerable<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: true);
                    case "System.Collections.Generic.HashSet<T>":
                        return Composite(ShapeKind.Set, fullName, named.TypeArguments[0], member, isInterface: false);
                    case "System.Collections.Generic.ISet<T>":
                    case "System.Collections.Generic.IReadOnlySet<T>":
                        return Composite(ShapeKind.Set, fullName, named.TypeArguments[0], member, isInterface: true);
                    case "System.Collections.Generic.Queue<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.Queue);
                    case "System.Collections.Generic.Stack<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.Stack);
                    case "System.Collections.Immutable.ImmutableArray<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: true, CollectionFlavor.ImmutableArray);
                    case "System.Collections.Immutable.ImmutableList<T>":
                    case "System.Collections.Immutable.IImmutableList<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.ImmutableList);
                    case "System.Collections.Immutable.ImmutableHashSet<T>":
                    case "System.Collections.Immutable.IImmutableSet<T>":
                        return Composite(ShapeKind.Set, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.ImmutableHashSet);
                    case "System.Collections.Immutable.ImmutableSortedSet<T>":
                        return Composite(ShapeKind.Set, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.ImmutableSortedSet);
                    case "System.Collections.Immutable.ImmutableQueue<T>":
                    case "System.Collections.Immutable.IImmutableQueue<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.ImmutableQueue);
                    case "System.Collections.Immutable.ImmutableStack<T>":
                    case "System.Collections.Immutable.IImmutableStack<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.ImmutableStack);
                    case "System.Collections.Generic.SortedSet<T>":
                        return Composite(ShapeKind.Set, fullName, named.TypeArguments[0], member, isInterface: false);
                    case "System.Collections.Generic.LinkedList<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.LinkedList);
                    case "System.Collections.ObjectModel.Collection<T>":
                    case "System.Collections.ObjectModel.ObservableCollection<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false);
                    case "System.Collections.Concurrent.ConcurrentQueue<T>":
                        return Composite(ShapeKind.List, fullName, named.TypeArguments[0], member, isInterface: false, isValueType: false, CollectionFlavor.Queue);
                    case "System.Collections.Generic.Dictionary<TKey, TValue>":
                    case "System.Collections.Generic.IDictionary<TKey, TValue>":
                    case "System.Collections.Generic.IReadOnlyDictionary<TKey, TValue>":
                    case "System.Collections.Immutable.ImmutableDictionary<TKey, TValue>":
                    case "System.Collections.Immutable.IImmutableDictionary<TKey, TValue>":
                    case "System.Collections.Immutable.ImmutableSortedDictionary<TKey, TValue>":
                    case "System.Collections.Generic.SortedDictionary<TKey, TValue>":
                    case "System.Collections.Generic.SortedList<TKey, TValue>":
                    case "System.Collections.Concurrent.ConcurrentDictionary<TKey, TValue>":
                        ITypeSymbol keyType = named.TypeArguments[0];
                        TypeShape? key = null;
                        if (keyType.SpecialType != SpecialType.System_String)
                        {
                            key = Classify(keyType, member);
                            if (key is null)
                            {
                                return null;
                            }

                            if (key.Kind is not (ShapeKind.Int32 or ShapeKind.Int64 or ShapeKind.Guid or ShapeKind.Enum))
                            {
                                return DelegateOrReport(member, type, "dictionary keys must be string, int, long, Guid or an enum");
                            }
                        }

                        TypeShape? value = Classify(named.TypeArguments[1], member);
                        return value is null
                            ? null
                            : new TypeShape
                            {
                                Kind = ShapeKind.Dictionary,
                                FullName = fullName,
                                IsValueType = false,
                                Element = value,
                                Key = key,
                                IsInterface = named.TypeKind == TypeKind.Interface,
                                Flavor = definition switch
                                {
                                    "System.Collections.Immutable.ImmutableSortedDictionary<TKey, TValue>" => CollectionFlavor.ImmutableSortedDictionary,
                                    "System.Collections.Generic.SortedDictionary<TKey, TValue>" or "System.Collections.Generic.SortedList<TKey, TValue>" => CollectionFlavor.SortedDictionary,
                                    _ when definition.StartsWith("System.Collections.Immutable.", System.StringComparison.Ordinal) => CollectionFlavor.ImmutableDictionary,
                                    _ => CollectionFlavor.Mutable,
                                },
                            };
                }
            }

            if (HasAttribute(named, WellKnownNames.PersistentStateAttribute))
            {
                if (_states.Add(fullName))
                {
                    _stateSymbols.Add(named);
                }

                return new TypeShape { Kind = ShapeKind.PersistentState, FullName = fullName, IsValueType = named.IsValueType, StateName = GetStableName(named) };
            }

            if (named.TypeKind == TypeKind.Delegate || named.IsStatic)
            {
                return Unsupported(member, type, "delegates and static classes cannot be persisted; exclude the member with [StateIgnore]");
            }

            string ns = named.ContainingNamespace?.ToDisplayString() ?? string.Empty;
            if (ns == "System" || ns.StartsWith("System.", System.StringComparison.Ordinal) || ns.StartsWith("Microsoft.", System.StringComparison.Ordinal))
            {
                return DelegateOrReport(member, type, "this framework type is not supported");
            }

            if (named.TypeKind is not (TypeKind.Class or TypeKind.Struct) || named.IsAbstract)
            {
                return DelegateOrReport(member, type, "interfaces and abstract classes are not written by the generated serializer");
            }

            // The generated writer would write the declared type's members only and lose a derived instance's.
            if (HasAttribute(named, WellKnownNames.JsonPolymorphicAttribute) || HasAttribute(named, WellKnownNames.JsonDerivedTypeAttribute))
            {
                return DelegateOrReport(member, type, "it is polymorphic ([JsonPolymorphic]/[JsonDerivedType]), which the generated serializer does not write");
            }

            if (!HasParameterlessConstructor(named, allowPrivate: false) && FindMatchingConstructor(named) is null)
            {
                return DelegateOrReport(member, type, "it has no public or internal parameterless constructor, nor one whose parameters all match its properties (as a positional record's do)");
            }

            if (!_objects.ContainsKey(named))
            {
                _objects[named] = null; // placeholder: breaks cycles; filled when dequeued
                _pending.Enqueue((named, member));
            }

            return new TypeShape { Kind = ShapeKind.Object, FullName = fullName, IsValueType = named.IsValueType };
        }

        private TypeShape? Composite(ShapeKind kind, string fullName, ITypeSymbol elementType, ISymbol member, bool isInterface, bool isValueType = false, CollectionFlavor flavor = CollectionFlavor.Mutable)
        {
            TypeShape? element = Classify(elementType, member);
            return element is null
                ? null
                : new TypeShape { Kind = kind, FullName = fullName, IsValueType = isValueType, Element = element, IsInterface = isInterface, Flavor = flavor };
        }

        /// <summary>
        /// A type the generated serializer does not write: delegated to the <c>JsonSerializerContext</c> named on the
        /// attribute, or, without one, a problem whose message names the way out.
        /// </summary>
        private TypeShape? DelegateOrReport(ISymbol member, ITypeSymbol type, string reason)
        {
            ITypeSymbol plain = type.WithNullableAnnotation(NullableAnnotation.NotAnnotated);
            if (_jsonContext is not null)
            {
                return new TypeShape { Kind = ShapeKind.Delegated, FullName = plain.ToDisplayString(FullNameFormat), IsValueType = type.IsValueType };
            }

            return Unsupported(member, type, $"{reason}. Delegate it to a JsonSerializerContext that has [JsonSerializable(typeof({plain.ToDisplayString()}))], named on the attribute of '{_rootName}': [PersistentState(JsonContext = typeof(MyJsonContext))]; or exclude the member with [StateIgnore]");
        }

        private TypeShape? Unsupported(ISymbol member, ITypeSymbol type, string reason)
        {
            _problems.Add(new ShapeProblem(ShapeProblemKind.UnsupportedMember, member, member.Name, $"of type '{type.ToDisplayString()}' cannot be persisted: {reason}"));
            return null;
        }

        private void AddEnum(INamedTypeSymbol type)
        {
            if (_enums.ContainsKey(type))
            {
                return;
            }

            bool unsigned = type.EnumUnderlyingType?.SpecialType is SpecialType.System_Byte or SpecialType.System_UInt16 or SpecialType.System_UInt32 or SpecialType.System_UInt64;
            var members = type.GetMembers()
                .OfType<IFieldSymbol>()
                .Where(f => f.HasConstantValue)
                .Select(f => new EnumMemberShape(f.Name, System.Convert.ToString(f.ConstantValue, CultureInfo.InvariantCulture) ?? "0"))
                .ToEquatableArray();
            _enums[type] = new EnumShape
            {
                FullName = type.ToDisplayString(FullNameFormat),
                Name = type.Name,
                IsUnsigned = unsigned,
                Members = members,
                Fallback = type.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(f => f.HasConstantValue && HasAttribute(f, WellKnownNames.StateEnumFallbackAttribute))?.Name,
                IsFlags = HasAttribute(type, "System.FlagsAttribute"),
            };
        }

        /// <summary>
        /// The public or internal constructor with the most parameters whose every parameter matches a readable property
        /// of the same name (ignoring case) and type: a positional record's primary constructor, for example.
        /// </summary>
        private static IMethodSymbol? FindMatchingConstructor(INamedTypeSymbol type)
        {
            if (type.IsValueType || HasRequiredMembers(type))
            {
                return null;
            }

            var properties = AllInstanceMembers(type).OfType<IPropertySymbol>().Where(p => p.GetMethod is not null).ToList();
            return type.InstanceConstructors
                .Where(c => c.Parameters.Length > 0 && IsVisible(c.DeclaredAccessibility))
                .Where(c => c.Parameters.All(parameter => properties.Any(property =>
                    string.Equals(property.Name, parameter.Name, System.StringComparison.OrdinalIgnoreCase)
                    && SymbolEqualityComparer.Default.Equals(property.Type.WithNullableAnnotation(NullableAnnotation.NotAnnotated), parameter.Type.WithNullableAnnotation(NullableAnnotation.NotAnnotated)))))
                .OrderByDescending(c => c.Parameters.Length)
                .FirstOrDefault();
        }

        /// <summary>
        /// A property with compiler-generated storage (<c>{ get; }</c>), not one computed by its getter (<c>=> ...</c>): in
        /// source, it has a backing field; from metadata (a base type in another assembly, whose private backing field is
        /// not imported), its getter is <c>[CompilerGenerated]</c>.
        /// </summary>
        private static bool IsAutoProperty(IPropertySymbol property)
            => property.Locations.Any(l => l.IsInMetadata)
                ? property.GetMethod is { } getter && HasAttribute(getter, "System.Runtime.CompilerServices.CompilerGeneratedAttribute")
                : property.ContainingType.GetMembers().OfType<IFieldSymbol>().Any(f => SymbolEqualityComparer.Default.Equals(f.AssociatedSymbol, property));

        /// <summary>
        /// A collection type whose instance a load can clear and add to (every one is an <c>ICollection&lt;T&gt;</c>):
        /// the read-only interfaces and arrays are not.
        /// </summary>
        /// <summary>Whether a member (or its getter or setter) is out of reach of code outside its type.</summary>
        private static bool NeedsAccessor(ISymbol member) => member switch
        {
            IPropertySymbol property => !IsVisible(property.DeclaredAccessibility)
                || (property.GetMethod is { } get && !IsVisible(get.DeclaredAccessibility))
                || (property.SetMethod is { IsInitOnly: false } set && !IsVisible(set.DeclaredAccessibility)),
            _ => !IsVisible(member.DeclaredAccessibility),
        };

        private static bool IsInGenericType(INamedTypeSymbol? type)
        {
            for (; type is not null; type = type.ContainingType)
            {
                if (type.IsGenericType)
                {
                    return true;
                }
            }

            return false;
        }

        private static bool IsFillableCollection(ITypeSymbol type)
            => type is INamedTypeSymbol { IsGenericType: true } named && named.OriginalDefinition.ToDisplayString() is
                "System.Collections.Generic.List<T>" or "System.Collections.Generic.IList<T>" or "System.Collections.Generic.ICollection<T>"
                or "System.Collections.Generic.HashSet<T>" or "System.Collections.Generic.ISet<T>"
                or "System.Collections.Generic.Dictionary<TKey, TValue>" or "System.Collections.Generic.IDictionary<TKey, TValue>"
                or "System.Collections.Generic.SortedSet<T>" or "System.Collections.Generic.LinkedList<T>"
                or "System.Collections.Generic.SortedDictionary<TKey, TValue>" or "System.Collections.Generic.SortedList<TKey, TValue>"
                or "System.Collections.ObjectModel.Collection<T>" or "System.Collections.ObjectModel.ObservableCollection<T>"
                or "System.Collections.Concurrent.ConcurrentDictionary<TKey, TValue>";

        /// <summary>Whether <c>new T()</c> must set required members: then generated code constructs through an accessor.</summary>
        private static bool HasRequiredMembers(INamedTypeSymbol type)
            => AllInstanceMembers(type).Any(m => m is IPropertySymbol { IsRequired: true } or IFieldSymbol { IsRequired: true });

        private static bool IsVisible(Accessibility accessibility)
            => accessibility is Accessibility.Public or Accessibility.Internal or Accessibility.ProtectedOrInternal;

        private static bool HasParameterlessConstructor(INamedTypeSymbol type, bool allowPrivate)
        {
            if (type.IsValueType)
            {
                return true;
            }

            return type.InstanceConstructors.Any(c => c.Parameters.Length == 0 && (allowPrivate || IsVisible(c.DeclaredAccessibility)));
        }

        /// <summary>Instance members of the type and its base types, most derived first, in declaration order.</summary>
        private static IEnumerable<ISymbol> AllInstanceMembers(INamedTypeSymbol type)
        {
            var chain = new List<INamedTypeSymbol>();
            for (INamedTypeSymbol? current = type; current is not null && current.SpecialType != SpecialType.System_Object; current = current.BaseType)
            {
                chain.Add(current);
            }

            foreach (INamedTypeSymbol current in chain)
            {
                foreach (ISymbol member in current.GetMembers())
                {
                    if (!member.IsStatic && member.Kind is SymbolKind.Property or SymbolKind.Field)
                    {
                        yield return member;
                    }
                }
            }
        }
    }
}
