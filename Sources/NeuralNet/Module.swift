// Module protocol and parameter tree: checkpoint-style dotted keys declared at each property with @Child.
// Not a layer zoo and not a state-dict loader (ModelFormats loads by these keys).
import Autograd

/// A trainable tensor. `trainable` is the tensor's `requiresGrad`; the optimizer updates `value` in place
/// or replaces it.
public final class Parameter {
    public var value: Tensor
    public init(_ value: Tensor, trainable: Bool = true) { self.value = value; value.requiresGrad = trainable }
    public var trainable: Bool { get { value.requiresGrad } set { value.requiresGrad = newValue } }
    public var grad: Tensor? { value.grad }
    public var shape: [Int] { value.shape }
}

/// Something that holds parameters under a key: a Parameter, a Module, an optional or array of them,
/// or a layer's weight enum.
public protocol ParameterContainer {
    /// (dotted key, parameter) pairs below `prefix`.
    func namedParameters(prefix: String) -> [(String, Parameter)]
    /// (dotted key, module) pairs below `prefix`, this one included when it is a module.
    func namedModules(prefix: String) -> [(String, any Module)]
}
extension ParameterContainer {
    public func namedModules(prefix: String) -> [(String, any Module)] { [] }
}

@inline(__always) func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : a + "." + b }

extension Parameter: ParameterContainer {
    public func namedParameters(prefix: String) -> [(String, Parameter)] { [(prefix, self)] }
}
extension Optional: ParameterContainer where Wrapped: ParameterContainer {
    public func namedParameters(prefix: String) -> [(String, Parameter)] { self?.namedParameters(prefix: prefix) ?? [] }
    public func namedModules(prefix: String) -> [(String, any Module)] { self?.namedModules(prefix: prefix) ?? [] }
}
extension Array: ParameterContainer where Element: ParameterContainer {
    public func namedParameters(prefix: String) -> [(String, Parameter)] {
        enumerated().flatMap { $0.element.namedParameters(prefix: join(prefix, String($0.offset))) }
    }
    public func namedModules(prefix: String) -> [(String, any Module)] {
        enumerated().flatMap { $0.element.namedModules(prefix: join(prefix, String($0.offset))) }
    }
}

/// Declares a module's child (parameter, submodule, list of layers) with its checkpoint key.
/// Plain storage: reading and assigning the property work as usual. A property declared without an
/// initial value must be assigned in the module's `init` (as any stored property) before it is read.
///
///     @Child("q_proj") public var qProj: Linear
///     @Child("layers") public var layers: [DecoderLayer]
@propertyWrapper public struct Child<Value> {
    public let key: String
    var storage: Value?
    public init(_ key: String) { self.key = key }
    public init(wrappedValue: Value, _ key: String) { self.key = key; storage = wrappedValue }
    public var wrappedValue: Value {
        get { storage! }      // assigned in init, like any stored property
        set { storage = newValue }
    }
}

protocol AnyChild { var key: String { get }; var container: ParameterContainer? { get } }
extension Child: AnyChild {
    var container: ParameterContainer? { storage.flatMap { $0 as? ParameterContainer } }
}

/// A layer or model: a class whose `@Child` properties form its parameter tree.
///
///     let names = model.namedParameters().map(\.0)    // ["layers.0.self_attn.q_proj.weight", …]
public protocol Module: AnyObject, ParameterContainer {}

extension Module {
    /// Children declared with `@Child`, in declaration order.
    func children() -> [(String, ParameterContainer)] {
        Mirror(reflecting: self).children.compactMap { c in
            guard let ch = c.value as? AnyChild, let v = ch.container else { return nil }
            return (ch.key, v)
        }
    }
    public func namedParameters(prefix: String) -> [(String, Parameter)] {
        children().flatMap { $0.1.namedParameters(prefix: join(prefix, $0.0)) }
    }
    public func namedModules(prefix: String) -> [(String, any Module)] {
        [(prefix, self)] + children().flatMap { $0.1.namedModules(prefix: join(prefix, $0.0)) }
    }
    /// Every parameter with its dotted checkpoint key.
    public func namedParameters() -> [(String, Parameter)] { namedParameters(prefix: "") }
    /// Parameters that receive gradients.
    public func trainableParameters() -> [(String, Parameter)] { namedParameters().filter { $0.1.trainable } }
    /// The parameter at a dotted key, if any.
    public func parameter(_ key: String) -> Parameter? { namedParameters().first { $0.0 == key }?.1 }
    /// Every submodule (this one included, key "") with its dotted key.
    public func namedModules() -> [(String, any Module)] { namedModules(prefix: "") }
    /// Clear the gradients of all parameters.
    public func zeroGrad() { for (_, p) in namedParameters() { p.value.grad = nil } }
    /// Freeze (or unfreeze) every parameter.
    public func setTrainable(_ on: Bool) { for (_, p) in namedParameters() { p.trainable = on } }
    /// Switch training-only behaviour (dropout) on or off throughout the tree.
    public func setTraining(_ on: Bool) {
        for (_, m) in namedModules() { (m as? Dropout)?.training = on }
    }
}

/// A module mapping one tensor to one tensor.
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor) throws -> Tensor
}
