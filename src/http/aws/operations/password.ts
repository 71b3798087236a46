import { generatePassword } from '../../../crypto/password.js';
import { bool, int, str } from '../aws-input.js';
import type { Operations } from '../aws-operations.js';

/** GetRandomPassword: the CSPRNG password generator, every AWS parameter honoured. Touches no secret. */
export function passwordOperations(): Operations {
  return {
    async GetRandomPassword(_call, input) {
      return {
        RandomPassword: generatePassword({
          length: int(input, 'PasswordLength'), excludeCharacters: str(input, 'ExcludeCharacters'), excludeNumbers: bool(input, 'ExcludeNumbers'),
          excludePunctuation: bool(input, 'ExcludePunctuation'), excludeUppercase: bool(input, 'ExcludeUppercase'),
          excludeLowercase: bool(input, 'ExcludeLowercase'), includeSpace: bool(input, 'IncludeSpace'),
          requireEachIncludedType: bool(input, 'RequireEachIncludedType'),
        }),
      };
    },
  };
}
