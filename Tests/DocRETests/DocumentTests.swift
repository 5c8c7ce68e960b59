import Testing
@testable import DocRE
